"""A worker killed with SIGKILL between checkpoints and resumed ends with the same LoRA as an unbroken run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_pipelines import build_sd1, config_dict, make_dataset

from tuitune.jobs.queue import create_run
from tuitune.jobs.rundir import RunDir
from tuitune.train.config import TrainConfig

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _worker(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tuitune.jobs.worker", str(run_dir), *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)


def _prepare(root: Path, name: str, model: Path, images: Path) -> RunDir:
    config = TrainConfig.from_dict(config_dict(model, images, train={"steps": 14, "batch_size": 2, "lr": 3e-3},
                                               lora={"dropout": 0.1}, data={"caption_dropout": 0.3},
                                               checkpoints={"every": 5, "keep": 2}), base_dir=root)
    return create_run(root, "train", config.frozen().model_dump(exclude_none=True), name=name)


def test_killed_then_resumed_run_matches_an_unbroken_run(tmp_path):
    model = build_sd1(tmp_path / "sd1")
    images = make_dataset(tmp_path / "images", count=5)
    whole = _prepare(tmp_path, "whole", model, images)
    broken = _prepare(tmp_path, "broken", model, images)

    unbroken = _worker(whole.path)
    victim = _worker(broken.path)
    deadline = time.time() + 240
    while time.time() < deadline:
        steps = [m["step"] for m in broken.read_metrics()]
        if steps and steps[-1] >= 7:
            break
        assert victim.poll() is None, victim.stderr.read().decode()
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = broken.read_metrics()[-1]["step"]
    assert 5 <= broken.checkpoint_steps()[-1] < killed_at < 14, (broken.checkpoint_steps(), killed_at)
    assert not broken.lora_path.exists()

    resumed = _worker(broken.path, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert unbroken.wait(timeout=300) == 0, unbroken.stderr.read().decode()
    assert broken.read_status()["state"] == "finished"
    a, b = load_file(str(whole.lora_path)), load_file(str(broken.lora_path))
    assert a.keys() == b.keys() and len(a) > 0
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Metrics after the resume point repeat the unbroken run's numbers.
    tail = {m["step"]: m["loss"] for m in broken.read_metrics()}
    assert all(tail[m["step"]] == m["loss"] for m in whole.read_metrics())
