"""The job runner with the cheap ``count`` job: detached workers, kill -9 and resume, queue, stop, pause."""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.files import wait_for
from tuitune.jobs import control
from tuitune.jobs.attach import RunView, follow
from tuitune.jobs.launch import launch
from tuitune.jobs.listing import summarize
from tuitune.jobs.queue import create_run, start_next, submit
from tuitune.jobs.rundir import RunDir, RunState

pytestmark = pytest.mark.timeout(120)




def count_config(steps: int = 30, step_seconds: float = 0.02, every: int = 5, **extra) -> dict:
    return {"count": {"steps": steps, "step_seconds": step_seconds, "checkpoint_every": every, **extra}}


def finished(run: RunDir, timeout: float = 60.0) -> RunState:
    return wait_for(lambda: run.state() if run.state().is_final else None, timeout, f"{run.name} to end")


def hard_kill(run: RunDir) -> None:
    status = run.read_status()
    os.killpg(int(status["pgid"]), signal.SIGKILL)
    wait_for(lambda: run.state() is RunState.CRASHED, 10, "the run to read as crashed")


def test_run_finishes_after_the_launching_process_is_killed(tmp_path):
    runs = tmp_path / "runs"
    code = (
        "import sys, time\n"
        "from tuitune.jobs.queue import submit\n"
        f"run = submit({str(runs)!r}, 'count', {count_config(steps=40, step_seconds=0.03)!r}, name='survivor')\n"
        "print(run.path, flush=True)\n"
        "time.sleep(120)\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    run = RunDir(Path(launcher.stdout.readline().strip()))
    wait_for(
        lambda: run.state() is RunState.RUNNING and run.read_status().get("step", 0) >= 1, what="running"
    )
    launcher.kill()  # like an SSH session dropping
    launcher.wait()
    assert finished(run) is RunState.FINISHED
    assert [row["step"] for row in run.read_metrics()] == list(range(1, 41))
    assert run.lora_path.is_file()


def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_result(tmp_path):
    config = count_config(steps=60, step_seconds=0.02, every=4)
    clean = submit(tmp_path / "a", "count", config, name="clean")
    assert finished(clean) is RunState.FINISHED

    run = submit(tmp_path / "b", "count", config, name="killed")
    rng = random.Random(4)
    for _ in range(3):
        wait_for(lambda: run.state() is RunState.RUNNING and run.read_status().get("pgid"), what="running")
        time.sleep(rng.uniform(0.05, 0.3))
        if run.state().is_final:
            break
        hard_kill(run)
        summary = summarize(run)
        assert summary.state is RunState.CRASHED
        assert (
            f"resume from step {run.checkpoint_steps()[-1]}" in summary.describe()
            if run.checkpoint_steps()
            else True
        )
        control.resume(run)
    assert finished(run) is RunState.FINISHED
    assert np.array_equal(load_file(str(run.lora_path))["value"], load_file(str(clean.lora_path))["value"])
    assert any(e["kind"] == "resumed" for e in run.read_events())


def test_stop_checkpoints_and_resume_continues_to_the_same_end(tmp_path):
    config = count_config(steps=50, step_seconds=0.03, every=0)  # only the stop checkpoint
    clean = submit(tmp_path / "a", "count", config, name="clean")
    run = submit(tmp_path / "b", "count", config, name="stopped")
    wait_for(lambda: run.read_status().get("step", 0) >= 10, what="step 10")
    assert control.stop(run, wait=30) is RunState.STOPPED
    steps = run.checkpoint_steps()
    assert len(steps) == 1 and 10 <= steps[0] < 50
    assert f"resume from step {steps[0]}" in summarize(run).describe()
    assert "from step" in control.resume(run)
    assert finished(run) is RunState.FINISHED and finished(clean) is RunState.FINISHED
    assert np.array_equal(load_file(str(run.lora_path))["value"], load_file(str(clean.lora_path))["value"])


def test_sigterm_alone_checkpoints_then_stops(tmp_path):
    run = submit(tmp_path, "count", count_config(steps=200, step_seconds=0.02, every=0), name="t")
    wait_for(lambda: run.read_status().get("step", 0) >= 5, what="step 5")
    os.killpg(int(run.read_status()["pgid"]), signal.SIGTERM)
    assert finished(run) is RunState.STOPPED
    assert run.checkpoint_steps() and run.checkpoint_steps()[0] >= 5


def test_pause_holds_the_step_and_resume_continues(tmp_path):
    run = submit(tmp_path, "count", count_config(steps=400, step_seconds=0.01, every=0), name="p")
    wait_for(lambda: run.read_status().get("step", 0) >= 3, what="step 3")
    control.pause(run)
    wait_for(lambda: run.state() is RunState.PAUSED, 10, "paused")
    held = run.read_status()["step"]
    time.sleep(0.5)
    assert run.read_status()["step"] == held
    control.resume(run)
    wait_for(lambda: run.read_status().get("step", 0) > held, 10, "progress after continue")
    control.stop(run, wait=20)
    assert run.state() is RunState.STOPPED


def test_one_gpu_job_at_a_time_and_the_next_starts_on_its_own(tmp_path):
    first = submit(tmp_path, "count", count_config(steps=25, step_seconds=0.03), name="first")
    second = submit(tmp_path, "count", count_config(steps=5, step_seconds=0.01), name="second")
    assert second.state() is RunState.QUEUED
    wait_for(lambda: first.state() is RunState.RUNNING, what="first running")
    time.sleep(0.3)
    assert second.state() is RunState.QUEUED
    assert finished(first) is RunState.FINISHED
    assert finished(second) is RunState.FINISHED
    first_end = first.read_status()["ended"]
    second_start = second.read_status()["started"]
    assert second_start >= first_end


def test_a_checkpoint_that_cannot_be_written_fails_the_run_and_keeps_the_previous_one(tmp_path):
    # History makes each checkpoint bigger than the last: step 2 fits under the limit, step 4 does not.
    run = create_run(
        tmp_path, "count", count_config(steps=8, step_seconds=0.0, every=2, width=2000, history=True)
    )
    limit = 60_000

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    worker = subprocess.run(
        [sys.executable, "-m", "tuitune.jobs.worker", str(run.path)],
        preexec_fn=limit_file_size, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert worker.returncode == 1
    assert run.state() is RunState.FAILED
    assert "Traceback" in worker.stderr  # the details, for a bug report
    message = run.read_status()["message"]
    assert "while writing checkpoint step 4" in message
    assert "continues from step 2" in message
    assert run.checkpoint_steps() == [2]
    assert load_file(str(run.checkpoint_dir(2) / "state.safetensors"))["history"].shape == (2, 2000)
    assert not list(run.checkpoints_dir.glob(".*partial"))
    control.resume(run)  # without the limit it goes on from step 2
    assert finished(run) is RunState.FINISHED
    assert load_file(str(run.lora_path))["value"].shape == (2000,)


def test_a_deleted_checkpoint_folder_falls_back_to_the_one_before(tmp_path):
    run = submit(tmp_path, "count", count_config(steps=400, step_seconds=0.01, every=5), name="d")
    wait_for(lambda: len(run.checkpoint_steps()) >= 2, what="two checkpoints")
    hard_kill(run)
    steps = run.checkpoint_steps()
    import shutil

    shutil.rmtree(run.checkpoint_dir(steps[-1]))
    assert summarize(run).resume_step == steps[-2]
    assert f"from step {steps[-2]}" in control.resume(run)
    wait_for(lambda: any(e["kind"] == "resumed" for e in run.read_events()), what="resume")
    assert [e["step"] for e in run.read_events() if e["kind"] == "resumed"] == [steps[-2]]
    control.stop(run, wait=20)


def test_attach_replays_history_then_follows_and_skips_a_truncated_line(tmp_path):
    run = RunDir(tmp_path / "r").create()
    run.write_status(state=RunState.RUNNING, pid=os.getpid(), step=2, total_steps=4)
    run.append_metric({"step": 1, "loss": 0.9, "time": 1.0})
    run.append_metric({"step": 2, "loss": 0.8, "time": 2.0})
    with open(run.metrics_jsonl, "a") as fh:
        fh.write('{"step": 3, "lo')  # the writer died mid-line

    seen: list[RunView] = []

    def sleep(_):
        if len(seen) == 1:
            run.write_status(step=4, state=RunState.FINISHED)

    for view in follow(run, interval=0, sleep=sleep):
        seen.append(view)
        assert [m["step"] for m in view.metrics] == [1, 2]
    assert seen[0].loss == pytest.approx(0.8)
    assert seen[-1].state is RunState.FINISHED and seen[-1].step == 4


def test_launch_of_a_missing_job_module_fails_with_a_reason(tmp_path):
    run = create_run(tmp_path, "nonsense", {})
    launch(run)
    assert finished(run) is RunState.FAILED
    assert "Unknown job kind 'nonsense'" in run.read_status()["message"]
    assert start_next(tmp_path) is None
