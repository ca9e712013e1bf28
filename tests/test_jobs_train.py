"""The runner with the real training worker on tiny models: kill -9 and resume, and two CPU processes."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from tiny_pipelines import build_sd1, config_dict, make_dataset  # noqa: E402

from tuitune.jobs import control  # noqa: E402
from tuitune.jobs.listing import summarize  # noqa: E402
from tuitune.jobs.queue import submit  # noqa: E402
from tuitune.jobs.rundir import RunDir, RunState  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("jobs_train")
    return {"sd1": build_sd1(root / "sd1"), "images": make_dataset(root / "images", count=4, with_masks=True)}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def final(run: RunDir, timeout: float = 240) -> RunState:
    wait_for(lambda: run.state().is_final, timeout, f"{run.name} to end")
    return run.state()


def test_kill_9_at_random_moments_and_resume_gives_the_uninterrupted_lora(world, tmp_path):
    config = config_dict(
        world["sd1"], world["images"], train={"steps": 12}, checkpoints={"every": 2, "keep": 3}
    )
    clean = submit(tmp_path / "a", "train", config, name="clean")
    run = submit(tmp_path / "b", "train", config, name="killed")
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        # A kill after the last checkpoint leaves nothing to train: that resume ends without a running step.
        wait_for(lambda: run.state().is_final
                 or (run.state() is RunState.RUNNING and run.read_status().get("step", 0) >= 1), 120, "a step")
        time.sleep(rng.uniform(0.0, 1.5))
        if run.state().is_final:
            break
        os.killpg(int(run.read_status()["pgid"]), signal.SIGKILL)
        wait_for(lambda: run.state() is RunState.CRASHED, 10, "crashed")
        kills += 1
        summary = summarize(run)
        if summary.resume_step is not None:
            assert f"resume from step {summary.resume_step}" in summary.describe()
        control.resume(run)
    assert kills >= 2
    assert final(run) is RunState.FINISHED, run.read_status()
    assert final(clean) is RunState.FINISHED, clean.read_status()
    ours, theirs = load_file(str(run.lora_path)), load_file(str(clean.lora_path))
    assert ours.keys() == theirs.keys() and ours
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    steps = [m["step"] for m in run.read_metrics()]
    assert steps[-1] == 12 and set(steps) == set(range(1, 13))


def test_two_cpu_processes_train_through_accelerate_with_rank_0_metrics(world, tmp_path):
    single = config_dict(world["sd1"], world["images"], train={"steps": 4})
    double = config_dict(world["sd1"], world["images"], train={"steps": 4, "num_processes": 2})
    one = submit(tmp_path / "one", "train", single, name="one")
    two = submit(tmp_path / "two", "train", double, name="two")
    assert final(two) is RunState.FINISHED, two.read_status()
    assert final(one) is RunState.FINISHED
    assert "accelerate.commands.launch --multi_gpu --num_processes 2" in two.log_path.read_text()
    assert two.read_status()["world_size"] == 2
    assert [m["step"] for m in two.read_metrics()] == [1, 2, 3, 4]  # one row per step: rank 0 only
    lora_two, lora_one = load_file(str(two.lora_path)), load_file(str(one.lora_path))
    assert lora_two.keys() == lora_one.keys()
    assert all(lora_two[k].shape == lora_one[k].shape for k in lora_one)
