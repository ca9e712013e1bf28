"""Run control inside the loop: SIGINT/SIGTERM and control-file requests (stop, pause, sample now)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import torch

from tuitune.jobs.rundir import ControlRequest, PacedStatus, RunState

PAUSE_POLL_SECONDS = 0.5


class StopSignals:
    """SIGINT/SIGTERM ask for a checkpoint and a clean stop instead of killing the process."""

    def __init__(self) -> None:
        self.stop = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.stop = True

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def poll(status: PacedStatus, main: bool, signals: StopSignals, step: int, total: int) -> tuple[bool, bool]:
    """(stop, sample_now) for this step; on rank 0 a PAUSE request blocks here, heartbeating, until
    CONTINUE, STOP or a signal. Every state change is written to status.json at once."""
    if not main:
        return signals.stop, False
    rd = status.run
    request = rd.take_request()
    if request is ControlRequest.PAUSE:
        rd.append_event("paused", step=step)
        while not signals.stop:
            status.write(state=str(RunState.PAUSED), pid=os.getpid(), step=step, total_steps=total,
                         message="paused")
            request = rd.take_request()
            if request in (ControlRequest.CONTINUE, ControlRequest.STOP):
                break
            time.sleep(PAUSE_POLL_SECONDS)
        status.write(state=str(RunState.RUNNING), step=step, message="")
        rd.append_event("continued", step=step)
    if request is ControlRequest.STOP or signals.stop:
        status.write(state=str(RunState.STOPPING), step=step, message="checkpointing, then stopping")
        return True, False
    return False, request is ControlRequest.SAMPLE_NOW


def agree(accelerator: Any, stop: bool, sample_now: bool) -> tuple[bool, bool]:
    """Every process takes the same decision (a signal may reach only some of them)."""
    if accelerator.num_processes == 1:
        return stop, sample_now
    flags = torch.tensor([int(stop), int(sample_now)], device=accelerator.device)
    torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
    return bool(flags[0]), bool(flags[1])
