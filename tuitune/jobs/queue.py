"""The run queue of one runs folder: one GPU job at a time, the next queued run starts when it ends.

The queue is the run directories themselves (state ``queued`` in status.json, ordered by ``queued_at``), so
it survives any process dying; a flock on ``runs/.queue.lock`` keeps two starters from racing. A run whose
status.json is damaged never reads as queued (see ``rundir``), so a lost status never starts a run again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w

from tuitune import atomic
from tuitune.errors import UserError
from tuitune.jobs.launch import launch, read_run_toml
from tuitune.jobs.rundir import RunDir, RunState

QUEUE_LOCK_TIMEOUT = 30.0  # seconds; starters hold it for milliseconds

ACTIVE = {RunState.STARTING, RunState.RUNNING, RunState.PAUSED, RunState.STOPPING}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_dirs(runs_root: Path) -> list[RunDir]:
    """Every run directory under ``runs_root``, oldest first."""
    runs_root = Path(runs_root)
    if not runs_root.is_dir():
        return []
    found = [RunDir(p) for p in runs_root.iterdir() if p.is_dir() and (p / "run.toml").is_file()]
    return sorted(found, key=lambda r: (r.read_status().get("created") or _made(r), r.name))


def _made(run: RunDir) -> float:
    """When a run whose status.json lost its ``created`` was made: its run.toml's time."""
    try:
        return run.run_toml.stat().st_mtime
    except OSError:
        return 0.0


def is_exclusive(config: dict[str, Any]) -> bool:
    """Jobs use the GPU unless run.toml says ``[job] gpu = false``; GPU jobs run one at a time."""
    return bool(config.get("job", {}).get("gpu", True))


def create_run(
    runs_root: Path, kind: str, config: dict[str, Any], name: str | None = None, gpu: bool = True
) -> RunDir:
    """Make a new run directory with its frozen ``run.toml`` and a ``queued`` status."""
    runs_root = Path(runs_root)
    runs_root.mkdir(parents=True, exist_ok=True)
    base = _UNSAFE.sub("-", name or f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}").strip("-.") or kind
    path = runs_root / base
    suffix = 2
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:
            path = runs_root / f"{base}-{suffix}"
            suffix += 1
    run = RunDir(path).create()
    frozen = {k: v for k, v in config.items() if k != "job"}
    # Where the run was made: a worker that finds itself elsewhere rebases paths into the moved project.
    job = {**config.get("job", {}), "kind": kind, "name": run.name, "gpu": gpu, "run_dir": str(run.path.resolve())}
    from tuitune import atomic

    now = time.time()
    # status.json first: a reader lists a folder once it has run.toml, and must never find it without a status.
    run.write_status(state=RunState.QUEUED, created=now, queued_at=now, kind=kind, step=0, message="queued")
    atomic.write_text(run.run_toml, tomli_w.dumps({"job": job, **frozen}))
    run.append_event("queued")
    return run


def submit(
    runs_root: Path, kind: str, config: dict[str, Any], name: str | None = None, gpu: bool = True
) -> RunDir:
    """Queue a new run and start it now when no other GPU job is running."""
    run = create_run(runs_root, kind, config, name=name, gpu=gpu)
    if gpu:
        start_next(runs_root)
    else:
        launch(run)
    return run


def requeue(run: RunDir, resume: bool = True) -> None:
    """Put a stopped, failed or crashed run back in the queue, to continue from its latest checkpoint."""
    run.write_status(
        state=RunState.QUEUED, queued_at=time.time(), resume=resume, pid=None, pgid=None, message="queued"
    )
    run.append_event("queued", resume=resume)
    if is_exclusive(read_run_toml(run)):
        start_next(run.path.parent)
    else:
        launch(run, resume=resume)


def active_run(runs_root: Path) -> RunDir | None:
    """The GPU run that is starting, running, paused or stopping, if any."""
    for run in run_dirs(runs_root):
        if run.state() in ACTIVE and is_exclusive(read_run_toml(run)):
            return run
    return None


def queued_runs(runs_root: Path) -> list[RunDir]:
    queued = [r for r in run_dirs(runs_root) if r.state() is RunState.QUEUED]
    return sorted(queued, key=lambda r: (r.read_status().get("queued_at") or 0, r.name))


def start_next(runs_root: Path) -> RunDir | None:
    """Start the oldest queued run if the GPU is free; returns the run started, if any."""
    runs_root = Path(runs_root)
    if not runs_root.is_dir():
        return None
    with _queue_lock(runs_root):
        if active_run(runs_root) is not None:
            return None
        for run in queued_runs(runs_root):
            try:
                launch(run, resume=bool(run.read_status().get("resume", False)))
            except (OSError, UserError):
                continue  # launch() marked it failed with the reason; try the next one
            return run
    return None


@contextmanager
def _queue_lock(runs_root: Path) -> Iterator[None]:
    # The same sidecar lock as every locked file update: ``runs/.queue.lock``.
    with atomic.exclusive(runs_root / "queue", timeout=QUEUE_LOCK_TIMEOUT):
        yield
