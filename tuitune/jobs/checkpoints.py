"""The one writer of a run's checkpoint folders: seal a fully written folder as ``step_N``, prune old ones.

What the folders mean to readers (``COMPLETE``, ``checksums.json``, ``LORA_ONLY``) is in ``rundir``'s docstring.
Pruning keeps the newest ``keep``; of those, all but the newest ``keep_state`` may drop their resumable state and
keep only their LoRA files (``lora_files``), which evaluations still read.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from tuitune import atomic
from tuitune.jobs.checksums import CHECKSUMS, file_sha256, write_checksums
from tuitune.jobs.rundir import COMPLETE, LORA_ONLY, RunDir


def partial_dir(run: RunDir, step: int) -> Path:
    """Where checkpoint ``step`` is written before it is sealed (``RunDir.remove_partial_checkpoints`` clears these)."""
    return run.checkpoints_dir / f".step_{step}.partial"


def seal(run: RunDir, partial: Path, step: int) -> Path:
    """Make the fully written folder ``partial`` checkpoint ``step``: checksums, fsync, rename, ``COMPLETE``."""
    final = run.checkpoint_dir(step)
    write_checksums(partial, skip={COMPLETE})
    _fsync_tree(partial)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    try:
        with open(final / COMPLETE, "w", encoding="utf-8") as fh:
            fh.write(f"{step}\n")
        atomic.fsync(final / COMPLETE)
        atomic.fsync(final)
        atomic.fsync(run.checkpoints_dir)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)  # renamed, but never marked complete
        raise
    return final


def prune(run: RunDir, keep: int, keep_state: int | None = None, lora_files: Iterable[str] = ()) -> None:
    """Delete all but the newest ``keep`` complete checkpoints; with ``keep_state``, the kept ones older than the
    newest ``keep_state`` keep only ``lora_files``."""
    steps = run.checkpoint_steps()
    for step in steps[: -max(keep, 1)]:
        shutil.rmtree(run.checkpoint_dir(step), ignore_errors=True)
    if keep_state is not None:
        for step in steps[-max(keep, 1):][:-keep_state]:
            if run.is_resumable(step):
                keep_only(run, step, set(lora_files))


def keep_only(run: RunDir, step: int, names: set[str]) -> None:
    """Make complete checkpoint ``step`` LoRA-only: keep the files named in ``names`` (relative paths), drop
    the rest. The marker and the checksums of what stays are written before anything is deleted, so an
    interrupted drop leaves a checkpoint that is intact (and already counts as LoRA-only)."""
    folder = run.checkpoint_dir(step)
    atomic.write_text(folder / LORA_ONLY, f"{step}\n")
    try:
        listed = json.loads((folder / CHECKSUMS).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        listed = {}
    files = {}
    for name in sorted(names | {LORA_ONLY}):
        path = folder / name
        if path.is_file():
            # The checksum taken when the checkpoint was sealed, so damage since then still shows.
            files[name] = listed.get(name) or {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    atomic.write_text(folder / CHECKSUMS, json.dumps({"files": files}, indent=1, sort_keys=True))
    for child in folder.iterdir():
        if child.name in (CHECKSUMS, COMPLETE) or child.name in files:
            continue
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() or path.is_dir():
            atomic.fsync(path)
    atomic.fsync(folder)
