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


def wait_for(predicate, timeout: float, what: str, poll: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def final(run: RunDir, timeout: float = 240) -> RunState:
    wait_for(lambda: run.state().is_final, timeout, f"{run.name} to end")
    return run.state()


def test_kill_9_at_random_moments_and_resume_gives_the_uninterrupted_lora(world, tmp_path):
    total = 16
    config = config_dict(
        world["sd1"], world["images"], train={"steps": total}, checkpoints={"every": 2, "keep": 3}
    )
    clean = submit(tmp_path / "a", "train", config, name="clean")
    run = submit(tmp_path / "b", "train", config, name="killed")
    rng = random.Random(7)
    # Kill points are steps read from metrics.jsonl (written every step), not wall-clock sleeps: on a fast
    # machine a sleep-based kill can come after the run has ended. A short random delay past each point lands
    # the kill anywhere in a step, a sample or a checkpoint write.
    targets = sorted(rng.sample(range(2, total - 2), 3))
    kills = 0
    for target in targets:
        wait_for(lambda target=target: run.state().is_final
                 or (run.state() is RunState.RUNNING and last_step(run) >= target), 120, f"step {target}",
                 poll=0.005)
        time.sleep(rng.uniform(0.0, 0.05))
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
    assert steps[-1] == total and set(steps) == set(range(1, total + 1))


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


# What `accelerate config` writes for two processes on this machine; on a box without a GPU accelerate's
# multi-GPU launcher (torchrun) starts them on the CPU and they talk over gloo.
TWO_CPU_PROCESSES = """\
compute_environment: LOCAL_MACHINE
debug: false
distributed_type: MULTI_GPU
downcast_bf16: 'no'
gpu_ids: all
machine_rank: 0
main_training_function: main
mixed_precision: 'no'
num_machines: 1
num_processes: 2
rdzv_backend: static
same_network: true
use_cpu: false
"""


def last_step(run: RunDir) -> int:
    """The newest step in metrics.jsonl (written every step; status.json's step is paced to once a second)."""
    rows = run.read_metrics()
    return int(rows[-1]["step"]) if rows else 0


@pytest.mark.timeout(900)
def test_two_processes_launched_through_an_accelerate_config_file_resume_bit_identically(world, tmp_path):
    accelerate = tmp_path / "accelerate.yaml"
    accelerate.write_text(TWO_CPU_PROCESSES, encoding="utf-8")
    total = 24
    config = config_dict(world["sd1"], world["images"], train={"steps": total, "batch_size": 2},
                         lora={"dropout": 0.1}, data={"caption_dropout": 0.3}, checkpoints={"every": 4, "keep": 8})
    config["job"] = {"accelerate_config": str(accelerate)}
    straight = submit(tmp_path / "a", "train", config, name="straight")
    broken = submit(tmp_path / "b", "train", config, name="broken")

    # A stop: every process checkpoints at the same step, then the run stops.
    wait_for(lambda: last_step(broken) >= 5, 300, "step 5")
    assert control.stop(broken, wait=120) is RunState.STOPPED, broken.read_status()
    stopped_at = broken.checkpoint_steps()[-1]
    assert 5 <= stopped_at == last_step(broken) < total - 8 and not broken.lora_path.exists()
    control.resume(broken)
    # Then kill -9 (launcher and both ranks) past the next periodic checkpoint, paused so the run cannot end first.
    wait_for(lambda: last_step(broken) >= stopped_at + 5, 300, "five steps past the resume")
    control.pause(broken)
    wait_for(lambda: broken.state() is RunState.PAUSED, 60, "paused")
    killed_at = last_step(broken)
    os.killpg(int(broken.read_status()["pgid"]), signal.SIGKILL)
    wait_for(lambda: broken.state() is RunState.CRASHED, 30, "crashed")
    assert stopped_at < broken.checkpoint_steps()[-1] <= killed_at < total
    control.resume(broken)

    assert final(broken, 400) is RunState.FINISHED, broken.read_status()
    assert final(straight, 400) is RunState.FINISHED, straight.read_status()
    for run in (straight, broken):
        log = run.log_path.read_text()
        assert f"accelerate.commands.launch --config_file {accelerate.resolve()}" in log
        assert run.read_status()["world_size"] == 2
    assert [m["step"] for m in straight.read_metrics()] == list(range(1, total + 1))  # rank 0 only
    ours, theirs = load_file(str(broken.lora_path)), load_file(str(straight.lora_path))
    assert ours.keys() == theirs.keys() and ours
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    # The steps replayed after each resume repeat the straight run's losses exactly.
    replayed = {m["step"]: m["loss"] for m in broken.read_metrics()}
    assert all(replayed[m["step"]] == m["loss"] for m in straight.read_metrics())


def test_a_config_file_trains_in_the_terminal_on_the_processes_an_accelerate_config_asks_for(world, tmp_path, capsys):
    from tiny_pipelines import write_config

    from tuitune.cli import main
    from tuitune.jobs.launch import WORKER_MODULE

    accelerate = tmp_path / "accelerate.yaml"
    accelerate.write_text(TWO_CPU_PROCESSES, encoding="utf-8")
    config = write_config(tmp_path / "train.toml", config_dict(world["sd1"], world["images"], train={"steps": 8}))
    run = RunDir(tmp_path / "run")
    args = ["train", str(config), "--run-dir", str(run.path), "--accelerate-config", str(accelerate)]
    assert main([*args, "--steps", "3"]) == 0
    # The command it prints and runs: accelerate with the user's file, starting the one job worker on the run.
    command = capsys.readouterr().out.splitlines()[0]
    assert f"--config_file {accelerate.resolve()}" in command
    assert command.endswith(f"-m {WORKER_MODULE} {run.path.resolve()}")
    assert run.read_status()["state"] == "finished" and run.lora_path.is_file()
    assert run.read_status()["world_size"] == 2
    assert [m["step"] for m in run.read_metrics()] == [1, 2, 3]  # rank 0 only; --steps reached the processes
    # A fresh start over the finished run is refused before any process starts.
    assert main(args) == 2
