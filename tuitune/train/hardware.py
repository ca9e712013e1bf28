"""What this machine can do: device, mixed precision, optimizer; one sentence for what it cannot."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

import torch

from tuitune.train.config import TrainSection
from tuitune.train.errors import TrainError

log = logging.getLogger(__name__)


def choose_device(setting: str, override: str | None) -> str:
    choice = override or setting
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu.")
    return choice


def make_accelerator(tc: TrainSection, device: str, project_dir: str, trackers: str | None) -> Any:
    """An Accelerator for ``device``; precisions the device cannot run are refused before any work starts."""
    from accelerate import Accelerator

    if device == "cpu" and tc.mixed_precision == "fp16":
        raise TrainError('fp16 mixed precision needs a CUDA GPU; on CPU set [train] mixed_precision = "bf16" '
                         'or "no".')
    try:
        return Accelerator(gradient_accumulation_steps=tc.grad_accum, mixed_precision=tc.mixed_precision,
                           cpu=device == "cpu", log_with=trackers, project_dir=project_dir)
    except ValueError as exc:
        raise TrainError(f"Mixed precision {tc.mixed_precision!r} is not available on this machine ({exc}); "
                         'set [train] mixed_precision = "no".') from None


def weight_dtype(mixed_precision: str, device_type: str) -> torch.dtype:
    """The dtype frozen weights are stored in; on CPU they stay fp32 and autocast computes in bf16."""
    if device_type == "cpu":
        return torch.float32
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed_precision, torch.float32)


def make_optimizer(tc: TrainSection, groups: list[dict[str, Any]], device_type: str,
                   warn: Callable[[str], None] | None = None) -> torch.optim.Optimizer:
    """AdamW; ``adamw8bit`` uses bitsandbytes' 8-bit AdamW when it can, else says so once and uses AdamW."""
    if tc.optimizer == "adamw8bit":
        reason = None
        if importlib.util.find_spec("bitsandbytes") is None:
            reason = "bitsandbytes is not installed (pip install bitsandbytes)"
        elif device_type != "cuda":
            reason = "bitsandbytes' 8-bit AdamW needs a CUDA GPU"
        if reason is None:
            import bitsandbytes as bnb

            return bnb.optim.AdamW8bit(groups, lr=tc.lr, weight_decay=tc.weight_decay)
        message = f"optimizer adamw8bit: {reason}; training with plain AdamW (uses more memory)."
        log.warning(message)
        if warn is not None:
            warn(message)
    return torch.optim.AdamW(groups, lr=tc.lr, weight_decay=tc.weight_decay)


def memory_mb(device: torch.device) -> float:
    """The run's peak memory so far in MiB: CUDA's peak allocation, or on CPU the process's peak resident set
    (what it needed at its worst, not what it happens to hold at the end of a step)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


def peak_rss_mb() -> float:
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 2**10)
