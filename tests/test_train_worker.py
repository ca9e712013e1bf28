"""The detached training worker process: PAUSE holds it, CONTINUE resumes it, SIGTERM checkpoints then stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_pipelines import build_sd1, config_dict, make_dataset

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


def test_pause_continue_and_sigterm_through_the_worker(tmp_path):
    config = TrainConfig.from_dict(config_dict(build_sd1(tmp_path / "sd1"), make_dataset(tmp_path / "images"),
                                               train={"steps": 10_000}), base_dir=tmp_path)
    rd = RunDir(tmp_path / "run").create()
    rd.run_toml.write_text(config.frozen().to_toml(), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tuitune.train.worker", str(rd.path)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(lambda: rd.read_status().get("step", 0) >= 2, "two steps", proc)
        rd.request(ControlRequest.PAUSE)
        _wait(lambda: rd.read_status().get("state") == "paused", "the paused state", proc)
        held = rd.read_status()
        time.sleep(1.5)
        now = rd.read_status()
        assert now["state"] == "paused" and now["step"] == held["step"]
        assert len(rd.read_metrics()) == held["step"]  # no step ran while paused
        assert now["heartbeat"] > held["heartbeat"]  # but the worker shows it is alive

        rd.request(ControlRequest.CONTINUE)
        _wait(lambda: rd.read_status().get("step", 0) >= held["step"] + 2, "steps after continue", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    status = rd.read_status()
    last = rd.read_metrics()[-1]["step"]
    assert status["state"] == "stopped" and status["step"] == last
    assert rd.checkpoint_steps() == [last]  # SIGTERM wrote a checkpoint at the step it stopped on
    assert (rd.checkpoint_dir(last) / "lora.safetensors").exists() and not rd.lora_path.exists()
    kinds = [e["kind"] for e in rd.read_events()]
    assert kinds.index("paused") < kinds.index("continued") < kinds.index("checkpoint") < kinds.index("stopped")

    from tuitune.train.loop import train

    outcome = train(config, rd, resume=True, steps=last + 1)
    assert outcome.state == "finished" and rd.read_metrics()[-1]["step"] == last + 1
