"""Whether this machine has a GPU, told from the driver's files: the UI process never imports torch to ask.

The queue runs one GPU job at a time on any machine; what a waiting job is told names the GPU only where there
is one, so a CPU-only machine hears that it waits for the running job instead.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per GPU the NVIDIA driver sees
DEVICE_FILES = (Path("/dev/nvidia0"), Path("/dev/kfd"))  # an NVIDIA GPU's node (containers), AMD's ROCm node


def has_gpu() -> bool:
    """True when a job started from here can see a GPU (CUDA_VISIBLE_DEVICES="" or "-1" hides them all)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    try:
        if NVIDIA_GPUS.is_dir() and any(NVIDIA_GPUS.iterdir()):
            return True
    except OSError:
        pass
    if any(path.exists() for path in DEVICE_FILES):
        return True
    return sys.platform == "darwin" and platform.machine() == "arm64"  # Apple silicon: the MPS device


def one_at_a_time() -> str:
    """Why a queued job waits, in this machine's words: "one GPU job at a time" or "one job at a time"."""
    return "one GPU job at a time" if has_gpu() else "one job at a time"
