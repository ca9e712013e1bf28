"""Atomic training checkpoints: accelerate state + LoRA into ``step_N.tmp/``, checksummed, renamed, then ``COMPLETE``.

Pruning keeps the newest ``keep``; of those, all but the newest ``keep_state`` may drop their resumable state
(optimizer, schedule, RNG, adapter copies) and keep only their LoRA files, which evaluations still read.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from tuitune import atomic
from tuitune.jobs.checksums import CHECKSUMS, file_sha256
from tuitune.jobs.rundir import COMPLETE, LORA_ONLY, RunDir
from tuitune.jobs.write_failure import reason_and_fix, write_failure
from tuitune.train.errors import TrainError
from tuitune.train.pivotal import embeddings_path

# What a LoRA-only checkpoint keeps: the LoRA the loop exports into it, and its pivotal embeddings if any.
LORA_FILE = "lora.safetensors"
LORA_FILES = {LORA_FILE, embeddings_path(Path(LORA_FILE)).name}


def write_checkpoint(run_dir: RunDir, step: int, save_state: Callable[[Path], None],
                     save_lora: Callable[[Path], None], is_main: bool, wait: Callable[[], None],
                     keep: int, keep_state: int | None = None) -> Path:
    """Save step ``step``; a failed write leaves earlier checkpoints untouched, removes its temp folder and
    raises a TrainError of one sentence."""
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
            save_lora(tmp / LORA_FILE)
            run_dir.seal_checkpoint(tmp, step)
            prune(run_dir, keep, keep_state)
    except Exception as exc:
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            if final.exists() and not (final / COMPLETE).exists():  # renamed, but never marked complete
                shutil.rmtree(final, ignore_errors=True)
        failure = write_failure(exc)
        if failure is None:
            raise
        raise TrainError(_write_failed(run_dir, step, failure)) from exc
    wait()
    return final


def _write_failed(run_dir: RunDir, step: int, failure: OSError) -> str:
    reason, fix = reason_and_fix(failure)
    steps = [s for s in run_dir.checkpoint_steps() if s != step]
    then = (f"then resume the run: it continues from step {steps[-1]}, the last intact checkpoint" if steps
            else "then start the run again: it has no earlier checkpoint")
    return f"Could not write the checkpoint for step {step}: {reason}; {fix}, {then}."


def prune(run_dir: RunDir, keep: int, keep_state: int | None = None) -> None:
    """Delete all but the newest ``keep`` complete checkpoints, and leftovers of interrupted saves; with
    ``keep_state``, the kept ones older than the newest ``keep_state`` keep only their LoRA files."""
    steps = run_dir.checkpoint_steps()
    for step in steps[:-keep] if keep > 0 else []:
        shutil.rmtree(run_dir.checkpoint_dir(step), ignore_errors=True)
    kept = steps[-keep:] if keep > 0 else steps
    if keep_state is not None:
        for step in kept[:-keep_state]:
            if run_dir.is_resumable(step):
                keep_only(run_dir, step, LORA_FILES)
    run_dir.remove_partial_checkpoints()


def keep_only(run_dir: RunDir, step: int, names: set[str]) -> None:
    """Make complete checkpoint ``step`` LoRA-only: keep the files named in ``names`` (relative paths), drop
    the rest. The marker and the checksums of what stays are written before anything is deleted, so an
    interrupted drop leaves a checkpoint that is intact (and already counts as LoRA-only)."""
    folder = run_dir.checkpoint_dir(step)
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


def latest(run_dir: RunDir) -> int | None:
    """The newest checkpoint a resume can continue from (one that kept its full state)."""
    steps = run_dir.resumable_checkpoint_steps()
    return steps[-1] if steps else None
