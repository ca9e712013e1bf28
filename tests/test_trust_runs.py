"""Runs a user can trust: a lost status.json, a truncated checkpoint and replayed metrics say what is true."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.files import wait_for
from tuitune.cli import main
from tuitune.jobs import control
from tuitune.jobs.attach import RunView
from tuitune.jobs.listing import summarize
from tuitune.jobs.queue import submit
from tuitune.jobs.rundir import RunDir, RunState

pytestmark = pytest.mark.timeout(120)




def count_config(steps: int = 20, step_seconds: float = 0.0, every: int = 5) -> dict:
    return {"count": {"steps": steps, "step_seconds": step_seconds, "checkpoint_every": every}}


def finished(run: RunDir, timeout: float = 60.0) -> RunState:
    return wait_for(lambda: run.state() if run.state().is_final else None, timeout, f"{run.name} to end")


DAMAGE = {
    "missing": None,
    "empty": b"",
    "garbage": b"\x00\xff\xfe not json at all \x81",
    "half-written": b'{"state": "fini',
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_finished_run_whose_status_is_lost_reads_finished_and_is_never_run_again(tmp_path, damage):
    done = submit(tmp_path, "count", count_config(), name="done")
    assert finished(done) is RunState.FINISHED
    lora = done.lora_path.read_bytes()
    if DAMAGE[damage] is None:
        done.status_json.unlink()
    else:
        done.status_json.write_bytes(DAMAGE[damage])

    assert done.state() is RunState.FINISHED  # its folder holds the final LoRA
    summary = summarize(done)
    assert summary.state is RunState.FINISHED and "damaged" in summary.describe()

    after = submit(tmp_path, "count", count_config(steps=5), name="after")
    assert finished(after) is RunState.FINISHED
    launches = [e for e in done.read_events() if e["kind"] == "launched"]
    assert len(launches) == 1  # the queue did not start the finished run again
    assert done.lora_path.read_bytes() == lora
    assert done.state() is RunState.FINISHED


def test_a_queued_status_beside_a_final_lora_is_not_started(tmp_path):
    done = submit(tmp_path, "count", count_config(), name="done")
    assert finished(done) is RunState.FINISHED
    done.status_json.write_text('{"state": "queued", "queued_at": 0}', encoding="utf-8")
    assert done.state() is RunState.FINISHED
    after = submit(tmp_path, "count", count_config(steps=5), name="after")
    assert finished(after) is RunState.FINISHED
    assert len([e for e in done.read_events() if e["kind"] == "launched"]) == 1


def test_garbage_status_shows_that_run_damaged_and_lists_the_others(tmp_path, capsys):
    (tmp_path / "project.toml").write_text("", encoding="utf-8")
    runs = tmp_path / "runs"
    good = submit(runs, "count", count_config(), name="good")
    assert finished(good) is RunState.FINISHED
    other = submit(runs, "count", count_config(steps=10), name="other")
    assert finished(other) is RunState.FINISHED
    typed = submit(runs, "count", count_config(steps=10), name="typed")
    assert finished(typed) is RunState.FINISHED
    broken = submit(runs, "count", count_config(steps=400, step_seconds=0.01, every=5), name="broken")
    wait_for(lambda: len(broken.checkpoint_steps()) >= 2, what="two checkpoints")
    os.killpg(int(broken.read_status()["pgid"]), signal.SIGKILL)
    wait_for(lambda: broken.state() is RunState.CRASHED, 10, "crashed")
    broken.status_json.write_bytes(b"\x89PNG\r\n\x1a\n garbage \xff")
    # Valid JSON with the wrong types in it must not break the listing either.
    typed.status_json.write_text('{"state": "finished", "step": "lots", "heartbeat": "x", "created": "then"}')

    assert main(["runs", "--project", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    by_name = {line.split()[0]: line for line in lines}
    assert set(by_name) == {"good", "other", "broken", "typed"}
    assert "finished at step 20/20" in by_name["good"] and "damaged" not in by_name["good"]
    assert "finished at step 10/10" in by_name["other"]
    damaged = by_name["broken"]
    assert "damaged" in damaged and "status.json" in damaged and "\n" not in damaged
    assert "Traceback" not in damaged and "resume" in damaged
    assert "damaged" in by_name["typed"] and "finished" in by_name["typed"]
    assert broken.state() is not RunState.QUEUED


def test_metrics_replayed_after_a_resume_are_read_once_per_step_newest_first(tmp_path):
    run = RunDir(tmp_path / "r").create()
    run.write_status(state=RunState.RUNNING, pid=os.getpid(), step=19, total_steps=30)
    for step in range(1, 20):  # killed at 19, the last checkpoint was step 10
        run.append_metric({"step": step, "loss": 1.0, "time": float(step)})
    view = RunView(run)
    view.update()
    tail = run.metrics_tail()
    assert len(tail.read_new()) == 19
    for step in range(11, 31):  # the resumed worker replays 11..19, then goes on
        run.append_metric({"step": step, "loss": 0.5, "time": 100.0 + step})
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == list(range(1, 31))  # 30 rows, not 39
    assert all(r["loss"] == (0.5 if r["step"] > 10 else 1.0) for r in rows)  # the newest row of a step wins
    assert [r["step"] for r in tail.read_new()] == list(range(20, 31))  # a tail never repeats a step
    view.update()
    assert [m["step"] for m in view.metrics] == list(range(1, 31))
    run.write_status(state=RunState.FINISHED, step=30)
    assert summarize(run).last_loss == 0.5


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_newest_checkpoint_is_skipped_on_resume_and_said_so(tmp_path):
    config = count_config(steps=60, step_seconds=0.03, every=4)
    clean = submit(tmp_path / "a", "count", config, name="clean")
    run = submit(tmp_path / "b", "count", config, name="cut")
    wait_for(lambda: len(run.checkpoint_steps()) >= 2, what="two checkpoints")
    os.killpg(int(run.read_status()["pgid"]), signal.SIGKILL)
    wait_for(lambda: run.state() is RunState.CRASHED, 10, "crashed")
    steps = run.checkpoint_steps()
    newest = run.checkpoint_dir(steps[-1])
    assert (newest / "COMPLETE").exists()
    _truncate(newest / "state.safetensors")

    assert summarize(run).resume_step == steps[-2]  # the truncated one is not offered
    assert f"from step {steps[-2]}" in control.resume(run)
    assert finished(run) is RunState.FINISHED, run.read_status()
    assert finished(clean) is RunState.FINISHED
    resumed = [e["step"] for e in run.read_events() if e["kind"] == "resumed"]
    assert resumed == [steps[-2]]
    notes = [e["message"] for e in run.read_events() if e["kind"] == "checkpoint_damaged"]
    assert len(notes) == 1 and f"step {steps[-1]}" in notes[0] and f"step {steps[-2]}" in notes[0]
    assert np.array_equal(load_file(str(run.lora_path))["value"], load_file(str(clean.lora_path))["value"])
    assert [m["step"] for m in run.read_metrics()] == list(range(1, 61))


def test_a_bit_flip_inside_a_checkpoint_is_caught_by_its_checksum(tmp_path):
    run = submit(tmp_path, "count", count_config(steps=12, every=4), name="flip")
    assert finished(run) is RunState.FINISHED
    assert run.checkpoint_steps() == [4, 8]
    state = run.checkpoint_dir(8) / "state.safetensors"
    data = bytearray(state.read_bytes())
    data[-1] ^= 0xFF  # same size: only the checksum can tell
    state.write_bytes(bytes(data))
    assert run.checkpoint_problem(8) is not None and run.checkpoint_problem(4) is None
    step, notes = run.newest_intact_checkpoint()
    assert step == 4 and len(notes) == 1 and "step 8" in notes[0]
    assert run.checkpoint_steps() == [4]
    assert (run.checkpoints_dir / "step_8.damaged").is_dir()
