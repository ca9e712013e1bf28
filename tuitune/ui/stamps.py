"""What a poll compares to know whether a run's files moved: modification time and size, a stat each."""

from __future__ import annotations

import os
from pathlib import Path


def file_stamp(path: str | Path) -> tuple[int, int] | None:
    """(mtime in ns, size) of ``path``, None when it does not exist or cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def runs_stamp(runs: Path) -> tuple:
    """What changes when a run finishes, checkpoints or is evaluated: each run's eval.jsonl, its final LoRA and
    its checkpoints folder (status.json, which a training run rewrites every second, is left out)."""
    try:
        with os.scandir(runs) as entries:
            folders = sorted(e.path for e in entries if e.is_dir())
    except OSError:
        return ()
    return tuple((folder, name, file_stamp(os.path.join(folder, name)))
                 for folder in folders for name in ("eval.jsonl", "lora.safetensors", "checkpoints"))
