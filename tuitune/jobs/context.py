"""What a running job sees of its run directory: status, metrics, control requests and checkpoints."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.jobs import checkpoints
from tuitune.jobs.rundir import ControlRequest, PacedStatus, RunDir, RunState

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
PAUSE_POLL_SECONDS = 0.5


@dataclass
class JobContext:
    """Handed to a job module's ``run(ctx)``; only rank 0 writes status, metrics and events."""

    run: RunDir
    resume: bool = False
    rank: int = 0
    world_size: int = 1
    stop_signalled: bool = False  # set by ``stop_signals``: SIGINT or SIGTERM reached this process
    stopped: bool = False  # the job was asked to stop and acknowledged it
    writing_checkpoint: int | None = None  # the step of a checkpoint being written, until it is committed
    step: int | None = None  # the step last reported, for the events that say where the job was
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
        self.step = step
        self.write_status(state=RunState.RUNNING, total_steps=total_steps, step=step, message="")

    def progress(self, step: int | None = None, **fields: Any) -> None:
        """Step progress (or other fields that change often, such as a phase), written at most about once a
        second; the heartbeat or the next write carries the rest."""
        if step is not None:
            self.step = step
            fields["step"] = step
        if not self.is_main:
            return
        with self._lock:
            self._status.progress(**fields)

    # --- metrics and events ------------------------------------------------------------------------
    def log_metric(self, row: dict[str, Any]) -> None:
        if self.is_main:
            self.run.append_metric({"time": time.time(), **row})

    def event(self, kind: str, **fields: Any) -> None:
        if self.is_main:
            self.run.append_event(kind, **fields)

    # --- control -----------------------------------------------------------------------------------
    def poll(self) -> ControlRequest | None:
        """STOP, SAMPLE_NOW or None; blocks while the run is paused. Call on every rank once per step: every
        rank gets rank 0's answer, or STOP when a stop signal reached any of them."""
        request = self._poll_main() if self.is_main else None
        request = _agree(request, self.stop_signalled, self.world_size)
        if request is ControlRequest.STOP:
            self.stopped = True
            self.write_status(state=RunState.STOPPING, message="checkpointing, then stopping")
            self.event("stop_requested", **self._where())
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
        self.event("paused", **self._where())
        while True:  # the heartbeat thread shows the paused worker is alive
            if self.stop_signalled:
                request = ControlRequest.STOP
                break
            request = self.run.take_request()
            if request in (ControlRequest.CONTINUE, ControlRequest.STOP):
                break
            time.sleep(PAUSE_POLL_SECONDS)
        self.write_status(state=previous, message="")
        self.event("continued", **self._where())
        return request if request is ControlRequest.STOP else None

    def _where(self) -> dict[str, int]:
        return {"step": self.step} if self.step is not None else {}

    # --- checkpoints -------------------------------------------------------------------------------
    def resume_checkpoint(self) -> tuple[int, Path] | None:
        """The newest intact checkpoint to resume from, or None to start from the beginning; the same on every rank.

        A newer checkpoint that fails its checksums is moved aside and said in a ``checkpoint_damaged`` event.
        """
        if not self.resume:
            return None
        step = None
        if self.is_main:
            step, notes = self.run.newest_intact_checkpoint()
            for note in notes:
                log.warning(note)
                self.event("checkpoint_damaged", message=note)
        step = _from_rank_0(step, self.world_size)  # after rank 0 moved a damaged one aside
        return (step, self.run.checkpoint_dir(step)) if step is not None else None

    def partial_checkpoint_dir(self, step: int) -> Path:
        """Where every rank writes checkpoint ``step`` before ``commit_checkpoint`` makes it count (rank 0 makes
        the folder: other ranks wait for it before they write)."""
        path = checkpoints.partial_dir(self.run, step)
        self.writing_checkpoint = step
        if self.is_main:
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True, exist_ok=True)
        return path

    def commit_checkpoint(self, step: int, keep: int | None = None, keep_state: int | None = None,
                          lora_files: frozenset[str] = frozenset()) -> Path:
        """Seal the partial checkpoint (checksums, fsync, rename, ``COMPLETE``; call it once every rank has written
        its part), then prune: the newest ``keep`` stay (default: run.toml's ``[checkpoints] keep``, else 3), and
        with ``keep_state`` all but the newest ``keep_state`` of those keep only ``lora_files``."""
        final = self.run.checkpoint_dir(step)
        if self.is_main:
            checkpoints.seal(self.run, checkpoints.partial_dir(self.run, step), step)
            if keep is None:
                keep = int(self.run_config().get("checkpoints", {}).get("keep", 3))
            checkpoints.prune(self.run, keep, keep_state, lora_files)
            self.write_status(checkpoint_step=step)
            self.event("checkpoint", step=step, path=str(final.relative_to(self.run.path)))
        self.writing_checkpoint = None
        return final

    def clean_partial_checkpoints(self) -> None:
        """Remove half-written checkpoints a killed worker or a failed write left behind."""
        if self.is_main:
            self.run.remove_partial_checkpoints()


def _agree(request: ControlRequest | None, stop_signalled: bool, world_size: int) -> ControlRequest | None:
    """Rank 0's request on every rank, or STOP when a signal reached any rank (a launcher on another machine may
    pass it on to its own processes only), so all processes stop or sample at the same step."""
    if not _distributed(world_size):
        return request
    import torch.distributed as dist

    answers: list[Any] = [None] * world_size
    dist.all_gather_object(answers, (str(request) if request is not None else "", stop_signalled))
    if any(signalled for _, signalled in answers):
        return ControlRequest.STOP
    return ControlRequest(answers[0][0]) if answers[0][0] else None


def _from_rank_0(value: Any, world_size: int) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not _distributed(world_size):
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _distributed(world_size: int) -> bool:
    """Whether this job runs as several processes that talk through torch.distributed (the training loop)."""
    if world_size <= 1 or "torch.distributed" not in sys.modules:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()
