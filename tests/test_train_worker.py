"""A training run in the job worker: PAUSE holds it, CONTINUE resumes it, a stop while paused checkpoints then stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_pipelines import build_sd1, config_dict, make_dataset

from tuitune.jobs.context import HEARTBEAT_SECONDS
from tuitune.jobs.queue import create_run
from tuitune.jobs.rundir import ControlRequest, RunDir
from tuitune.train.config import TrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[1]


def _wait(predicate, what: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"worker exited ({proc.returncode}) waiting for {what}: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _last_step(rd: RunDir) -> int:
    rows = rd.read_metrics()
    return int(rows[-1]["step"]) if rows else 0


def _start(tmp_path: Path) -> tuple[TrainConfig, RunDir, subprocess.Popen]:
    config = TrainConfig.from_dict(config_dict(build_sd1(tmp_path / "sd1"), make_dataset(tmp_path / "images"),
                                               train={"steps": 10_000}), base_dir=tmp_path)
    rd = create_run(tmp_path / "runs", "train", config.frozen().model_dump(exclude_none=True), name="run")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tuitune.jobs.worker", str(rd.path)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return config, rd, proc


def _pause(rd: RunDir, proc: subprocess.Popen) -> dict:
    rd.request(ControlRequest.PAUSE)
    _wait(lambda: rd.read_status().get("state") == "paused", "the paused state", proc)
    return rd.read_status()


def _ends_cleanly(proc) -> None:
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()


def _kill_if_running(proc) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_pause_continue_then_sigterm_while_paused_checkpoints_and_stops(tmp_path):
    config, rd, proc = _start(tmp_path)
    try:
        _wait(lambda: _last_step(rd) >= 2, "two steps", proc)
        held = _pause(rd, proc)
        time.sleep(HEARTBEAT_SECONDS + 1)
        now = rd.read_status()
        assert now["state"] == "paused" and now["step"] == held["step"] == _last_step(rd)  # no step ran
        assert now["heartbeat"] > held["heartbeat"]  # but the worker shows it is alive

        rd.request(ControlRequest.CONTINUE)
        _wait(lambda: _last_step(rd) >= held["step"] + 2, "steps after continue", proc)
        again = _pause(rd, proc)
        proc.send_signal(signal.SIGTERM)  # what `tuitune stop` sends a worker that does not answer
        _ends_cleanly(proc)
    finally:
        _kill_if_running(proc)

    status = rd.read_status()
    assert status["state"] == "stopped" and status["step"] == again["step"] == _last_step(rd)
    assert rd.checkpoint_steps() == [again["step"]]  # the checkpoint is of the step it paused at
    assert (rd.checkpoint_dir(again["step"]) / "lora.safetensors").exists() and not rd.lora_path.exists()
    told = [(e["kind"], e.get("step")) for e in rd.read_events()
            if e["kind"] in {"paused", "continued", "stop_requested", "checkpoint", "stopped"}]
    assert told == [("paused", held["step"]), ("continued", held["step"]), ("paused", again["step"]),
                    ("continued", again["step"]), ("stop_requested", again["step"]), ("checkpoint", again["step"]),
                    ("stopped", None)]

    from tuitune.train.loop import train

    outcome = train(config, rd, resume=True, steps=again["step"] + 1)
    assert outcome.state == "finished" and rd.read_metrics()[-1]["step"] == again["step"] + 1


def test_a_stop_asked_while_paused_checkpoints_and_stops(tmp_path):
    _, rd, proc = _start(tmp_path)
    try:
        _wait(lambda: _last_step(rd) >= 1, "a step", proc)
        held = _pause(rd, proc)
        rd.request(ControlRequest.STOP)  # `tuitune stop` writes this first
        _ends_cleanly(proc)
    finally:
        _kill_if_running(proc)
    status = rd.read_status()
    assert status["state"] == "stopped" and status["step"] == held["step"] == _last_step(rd)
    assert rd.checkpoint_steps() == [held["step"]]
    assert f"resume {rd.name}" in status["message"]
