"""Atomic training checkpoints: accelerate state + LoRA into ``step_N.tmp/``, renamed, then ``COMPLETE``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from tuitune.jobs.rundir import RunDir
from tuitune.train.errors import TrainError


def write_checkpoint(run_dir: RunDir, step: int, save_state: Callable[[Path], None],
                     save_lora: Callable[[Path], None], is_main: bool, wait: Callable[[], None],
                     keep: int) -> Path:
    """Save step ``step``; a failure leaves earlier checkpoints untouched and raises a TrainError."""
    final = run_dir.checkpoint_dir(step)
    tmp = final.with_name(final.name + ".tmp")
    try:
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        wait()
        save_state(tmp)  # every process writes its own optimizer/RNG shard
        wait()
        if is_main:
            save_lora(tmp / "lora.safetensors")
            _fsync_tree(tmp)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            (final / "COMPLETE").write_text(f"{step}\n", encoding="utf-8")
            _fsync_dir(final)
            prune(run_dir, keep)
    except OSError as exc:
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise TrainError(f"Could not write the checkpoint for step {step} ({exc.strerror or exc}); the previous "
                         "checkpoint is intact: free disk space and resume with --resume.") from None
    wait()
    return final


def prune(run_dir: RunDir, keep: int) -> None:
    """Delete all but the newest ``keep`` complete checkpoints, and leftovers of interrupted saves."""
    steps = run_dir.checkpoint_steps()
    for step in steps[:-keep] if keep > 0 else []:
        shutil.rmtree(run_dir.checkpoint_dir(step), ignore_errors=True)
    for child in run_dir.checkpoints_dir.glob("step_*.tmp"):
        shutil.rmtree(child, ignore_errors=True)


def latest(run_dir: RunDir) -> int | None:
    steps = run_dir.checkpoint_steps()
    return steps[-1] if steps else None


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
