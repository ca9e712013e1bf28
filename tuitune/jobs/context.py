"""What a running job sees of its run directory: status, metrics, control requests and checkpoints."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.jobs.rundir import ControlRequest, PacedStatus, RunDir, RunState

HEARTBEAT_SECONDS = 5.0
PAUSE_POLL_SECONDS = 0.5


@dataclass
class JobContext:
    """Handed to a job module's ``run(ctx)``; only rank 0 writes status, metrics and events."""

    run: RunDir
    resume: bool = False
    rank: int = 0
    world_size: int = 1
    stop_signalled: bool = False  # set by the worker's SIGTERM handler
    stopped: bool = False  # the job was asked to stop and acknowledged it
    writing_checkpoint: int | None = None  # the step of a checkpoint being written, until it is committed
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _beat: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _status: PacedStatus = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._status = PacedStatus(self.run)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # --- config ------------------------------------------------------------------------------------
    def run_config(self) -> dict[str, Any]:
        """run.toml as written, including the ``[job]`` table."""
        return self.run.config()

    def job_config(self) -> dict[str, Any]:
        """run.toml without the ``[job]`` table: the job's own configuration."""
        config = self.run_config()
        config.pop("job", None)
        return config

    # --- status ------------------------------------------------------------------------------------
    def write_status(self, **fields: Any) -> None:
        """Write now, together with any step progress still held back."""
        if not self.is_main:
            return
        with self._lock:
            self._status.write(**fields)

    def begin(self) -> None:
        """Claim the run for this process and keep its heartbeat fresh while the job works."""
        self.write_status(
            state=RunState.STARTING,
            pid=os.getpid(),
            pgid=os.getpgid(0),
            host=socket.gethostname(),
            started=time.time(),
            world_size=self.world_size,
            message="resuming" if self.resume else "starting",
        )

    def start_heartbeat(self) -> None:
        """Refresh status.json every few seconds, so long steps do not look like a dead worker."""
        if self.is_main and self._thread is None:
            self._thread = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
            self._thread.start()

    def end(self, state: RunState, message: str = "", **fields: Any) -> None:
        self._beat.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.write_status(state=state, message=message, ended=time.time(), **fields)

    def _heartbeat(self) -> None:
        while not self._beat.wait(HEARTBEAT_SECONDS):
            self.write_status()

    def started(self, total_steps: int, step: int = 0) -> None:
        self.write_status(state=RunState.RUNNING, total_steps=total_steps, step=step, message="")

    def progress(self, step: int, **fields: Any) -> None:
        """Step progress, written at most about once a second; the heartbeat or the next write carries the rest."""
        if not self.is_main:
            return
        with self._lock:
            self._status.progress(step=step, **fields)

    # --- metrics and events ------------------------------------------------------------------------
    def log_metric(self, row: dict[str, Any]) -> None:
        if self.is_main:
            self.run.append_metric({"time": time.time(), **row})

    def event(self, kind: str, **fields: Any) -> None:
        if self.is_main:
            self.run.append_event(kind, **fields)

    # --- control -----------------------------------------------------------------------------------
    def poll(self) -> ControlRequest | None:
        """STOP, SAMPLE_NOW or None; blocks while the run is paused. Call on every rank once per step."""
        request = self._poll_main() if self.is_main else None
        request = _broadcast(request, self.world_size)
        if request is ControlRequest.STOP:
            self.stopped = True
            self.write_status(state=RunState.STOPPING, message="checkpointing, then stopping")
            self.event("stop_requested")
        return request

    def _poll_main(self) -> ControlRequest | None:
        if self.stop_signalled:
            return ControlRequest.STOP
        request = self.run.take_request()
        if request is ControlRequest.CONTINUE:
            return None
        if request is not ControlRequest.PAUSE:
            return request
        previous = self.run.read_status().get("state", RunState.RUNNING)
        self.write_status(state=RunState.PAUSED, message="paused")
        self.event("paused")
        while True:
            if self.stop_signalled:
                return ControlRequest.STOP
            request = self.run.take_request()
            if request in (ControlRequest.CONTINUE, ControlRequest.STOP):
                break
            time.sleep(PAUSE_POLL_SECONDS)
        self.write_status(state=previous, message="")
        self.event("continued")
        return request if request is ControlRequest.STOP else None

    # --- checkpoints -------------------------------------------------------------------------------
    def resume_checkpoint(self) -> tuple[int, Path] | None:
        """The newest intact checkpoint to resume from, or None to start from the beginning.

        A newer checkpoint that fails its checksums is moved aside and said in a ``checkpoint_damaged`` event.
        """
        if not self.resume:
            return None
        if self.is_main:
            step, notes = self.run.newest_intact_checkpoint()
            for note in notes:
                self.event("checkpoint_damaged", message=note)
        else:
            steps = self.run.resumable_checkpoint_steps()
            step = steps[-1] if steps else None
        return (step, self.run.checkpoint_dir(step)) if step is not None else None

    def partial_checkpoint_dir(self, step: int) -> Path:
        """Where every rank writes checkpoint ``step`` before ``commit_checkpoint`` makes it count."""
        path = self.run.checkpoints_dir / f".step_{step}.partial"
        self.writing_checkpoint = step
        if self.is_main:
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True, exist_ok=True)
        return path

    def commit_checkpoint(self, step: int, keep: int | None = None) -> Path:
        """Checksum the partial checkpoint, rename it into place, mark it complete, drop old ones beyond ``keep``."""
        final = self.run.checkpoint_dir(step)
        if not self.is_main:
            return final
        self.run.seal_checkpoint(self.run.checkpoints_dir / f".step_{step}.partial", step)
        if keep is None:
            keep = int(self.run_config().get("checkpoints", {}).get("keep", 3))
        for old in self.run.checkpoint_steps()[: -max(keep, 1)]:
            shutil.rmtree(self.run.checkpoint_dir(old), ignore_errors=True)
        self.writing_checkpoint = None
        self.write_status(checkpoint_step=step)
        self.event("checkpoint", step=step, path=str(final.relative_to(self.run.path)))
        return final

    def clean_partial_checkpoints(self) -> None:
        """Remove half-written checkpoints a killed worker or a failed write left behind."""
        if self.is_main:
            self.run.remove_partial_checkpoints()


def _broadcast(value: ControlRequest | None, world_size: int) -> ControlRequest | None:
    """Rank 0's answer on every rank, so all processes stop or sample at the same step."""
    if world_size <= 1 or "torch.distributed" not in sys.modules:
        return value
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [str(value) if value is not None else None]
    dist.broadcast_object_list(box, src=0)
    return ControlRequest(box[0]) if box[0] else None
