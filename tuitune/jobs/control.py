"""Stop, pause, continue, resume and sample-now for a run, from any process."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from tuitune.errors import UserError
from tuitune.jobs.launch import accelerate_config, read_run_toml
from tuitune.jobs.queue import requeue
from tuitune.jobs.rundir import ControlRequest, RunDir, RunState, pid_alive

LIVE = {RunState.STARTING, RunState.RUNNING, RunState.PAUSED, RunState.STOPPING}


def _require_live(run: RunDir, action: str) -> RunState:
    state = run.state()
    if state not in LIVE:
        raise UserError(f"Run {run.name} is {state}, so there is nothing to {action}.")
    return state


def stop(
    run: RunDir, grace: float = 15.0, wait: float = 0.0, sleep: Callable[[float], None] = time.sleep
) -> RunState:
    """Ask the worker to checkpoint and stop; SIGTERM its process group if it has not answered in ``grace``.

    Waits up to ``wait`` seconds for a final state; returns the state seen last.
    """
    state = run.state()
    if state is RunState.QUEUED:
        run.write_status(state=RunState.STOPPED, message="Removed from the queue before it started.")
        run.append_event("dequeued")
        return RunState.STOPPED
    _require_live(run, "stop")
    run.request(ControlRequest.STOP)
    start, signalled = time.time(), False
    while True:
        state = run.state()
        if state.is_final or (state is RunState.STOPPING and wait <= 0):
            return state
        elapsed = time.time() - start
        # A worker busy inside a long step has not read the request yet: the signal reaches it anyway.
        if not signalled and elapsed >= grace and state is not RunState.STOPPING:
            signalled = _terminate(run)
        if elapsed >= max(grace, wait):
            return state
        sleep(0.2)


def _terminate(run: RunDir) -> bool:
    """SIGTERM the worker's process group (accelerate launcher and every rank)."""
    status = run.read_status()
    pgid, pid = status.get("pgid"), status.get("pid")
    try:
        if pgid and pid_alive(pgid):
            os.killpg(int(pgid), signal.SIGTERM)
        elif pid and pid_alive(pid):
            os.kill(int(pid), signal.SIGTERM)
        else:
            return False
    except ProcessLookupError:
        return False
    run.append_event("sigterm_sent")
    return True


def pause(run: RunDir) -> None:
    if _require_live(run, "pause") is RunState.PAUSED:
        raise UserError(f"Run {run.name} is already paused; `tuitune resume {run.name}` continues it.")
    run.request(ControlRequest.PAUSE)


def sample_now(run: RunDir) -> None:
    _require_live(run, "sample")
    run.request(ControlRequest.SAMPLE_NOW)


def resume(run: RunDir) -> str:
    """Continue a paused run, or queue a stopped/failed/crashed one from its latest checkpoint."""
    state = run.state()
    if state is RunState.PAUSED:
        run.request(ControlRequest.CONTINUE)
        return f"Run {run.name} continues."
    if state in (RunState.STARTING, RunState.RUNNING, RunState.STOPPING):
        raise UserError(f"Run {run.name} is already {state}; `tuitune attach {run.name}` follows it.")
    if state is RunState.QUEUED:
        raise UserError(f"Run {run.name} is already queued; it starts when the running job ends.")
    if state is RunState.FINISHED:
        raise UserError(f"Run {run.name} has finished; start a new run to train further.")
    # A launch that cannot be built (its accelerate config is gone) says so now, and the run stays as it was.
    accelerate_config(run, read_run_toml(run))
    steps = run.resumable_checkpoint_steps()  # a LoRA-only checkpoint is not where a resume continues
    requeue(run, resume=True)
    where = f"from step {steps[-1]}" if steps else "from the start (no complete checkpoint is left)"
    after = run.state()
    if after is RunState.QUEUED:
        return f"Run {run.name} is queued to resume {where}; it starts when the running job ends."
    return f"Run {run.name} resumes {where}."
