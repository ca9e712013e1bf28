"""status.json is written at most about once a second during step progress, and at once on every state change."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.jobs.context import JobContext
from tuitune.jobs.queue import create_run
from tuitune.jobs.rundir import ControlRequest, PacedStatus, RunDir, RunState
from tuitune.jobs.worker import run_job


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _count_writes(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Every status.json replacement, with the fields it was asked to merge."""
    writes: list[dict] = []
    original = RunDir.write_status

    def counted(self: RunDir, **fields):
        writes.append(dict(fields))
        return original(self, **fields)

    monkeypatch.setattr(RunDir, "write_status", counted)
    return writes


def test_fast_steps_are_written_about_once_a_second_and_nothing_is_lost(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run").create()
    clock = FakeClock()
    status = PacedStatus(run, interval=1.0, clock=clock)
    status.write(state=RunState.STARTING, step=0, total_steps=1000)
    for step in range(1, 1001):
        clock.now += 0.01  # 100 steps a second
        status.progress(state=RunState.RUNNING, step=step, total_steps=1000)
        if step == 1:
            # The move from starting to running is a state change: readers see it at once.
            assert run.read_status()["state"] == "running"
    # Ten seconds of steps: about ten writes, not a thousand.
    assert status.writes <= 15
    shown = run.read_status()["step"]
    assert 900 <= shown < 1000  # never more than a second behind
    status.write(state=RunState.FINISHED)
    final = run.read_status()
    assert final["state"] == "finished" and final["step"] == 1000 and final["total_steps"] == 1000


def test_held_progress_is_written_by_the_next_state_change(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run").create()
    clock = FakeClock()
    status = PacedStatus(run, interval=1.0, clock=clock)
    status.progress(state=RunState.RUNNING, step=1)
    assert status.progress(state=RunState.RUNNING, step=2, message="step two") is False
    assert run.read_status()["step"] == 1
    status.write(state=RunState.PAUSED)
    paused = run.read_status()
    assert paused["state"] == "paused" and paused["step"] == 2 and paused["message"] == "step two"
    # A state given to progress() is never held back either.
    assert status.progress(state=RunState.RUNNING, step=2) is True
    assert run.read_status()["state"] == "running"
    status.flush()  # nothing held: no write
    assert status.writes == 3


def _count_run(tmp_path: Path, steps: int) -> RunDir:
    return create_run(
        tmp_path / "runs",
        "count",
        {"count": {"steps": steps, "step_seconds": 0, "checkpoint_every": 100}},
        name="fast",
    )


def test_a_job_of_many_tiny_steps_writes_status_far_fewer_times_than_it_steps(tmp_path, monkeypatch) -> None:
    run = _count_run(tmp_path, 400)
    writes = _count_writes(monkeypatch)
    ctx = JobContext(run=run)
    ctx.begin()
    state, message = run_job(ctx, "count")
    ctx.end(state, message)
    assert state is RunState.FINISHED
    assert len(writes) < 400 // 10, len(writes)
    # Every checkpoint was written as it was committed.
    assert [w["checkpoint_step"] for w in writes if "checkpoint_step" in w] == [100, 200, 300]
    final = run.read_status()
    assert final["state"] == "finished" and final["step"] == 400 and final["total_steps"] == 400
    assert [m["step"] for m in run.read_metrics()] == list(range(1, 401))


def test_a_pause_shows_the_step_it_paused_at(tmp_path, monkeypatch) -> None:
    import time
    from types import SimpleNamespace

    from tuitune.jobs import context

    run = _count_run(tmp_path, 50)
    ctx = JobContext(run=run)
    ctx.begin()
    seen: list[dict] = []

    def look_then_continue(seconds: float) -> None:
        # The paused worker waits here for CONTINUE: look at what a reader sees, then answer.
        seen.append(run.read_status())
        run.request(ControlRequest.CONTINUE)

    monkeypatch.setattr(context, "time", SimpleNamespace(time=time.time, sleep=look_then_continue))
    original_poll = JobContext._poll_main
    polls = {"n": 0}

    def pause_after_step_30(self: JobContext):
        polls["n"] += 1
        if polls["n"] == 31:
            run.request(ControlRequest.PAUSE)
        return original_poll(self)

    monkeypatch.setattr(JobContext, "_poll_main", pause_after_step_30)
    state, message = run_job(ctx, "count")
    ctx.end(state, message)
    assert len(seen) == 1 and seen[0]["state"] == "paused" and seen[0]["step"] == 30
    assert run.read_status()["step"] == 50


@pytest.mark.slow
def test_a_training_run_of_many_tiny_steps_paces_its_status(tmp_path, monkeypatch) -> None:
    import torch
    from tiny_pipelines import build_sd1, config_dict, make_dataset

    from tuitune.train.config import TrainConfig
    from tuitune.train.loop import train

    torch.set_num_threads(1)
    model = build_sd1(tmp_path / "sd1")
    images = make_dataset(tmp_path / "images", count=2, with_masks=True)
    steps = 120
    config = TrainConfig.from_dict(
        config_dict(model, images, train={"steps": steps}, checkpoints={"every": 50, "keep": 5}), base_dir=tmp_path
    )
    writes = _count_writes(monkeypatch)
    outcome = train(config, tmp_path / "run")
    assert outcome.state == "finished"
    assert len(writes) < steps // 4, len(writes)
    assert [w["checkpoint_step"] for w in writes if "checkpoint_step" in w] == [50, 100, 120]
    run = RunDir(tmp_path / "run")
    final = run.read_status()
    assert final["state"] == "finished" and final["step"] == steps and final["total_steps"] == steps
    assert [m["step"] for m in run.read_metrics()] == list(range(1, steps + 1))
