"""Training runs a user can trust: checksummed checkpoints, write failures in one sentence, refusals that touch
nothing — on the tiny SD1 model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_pipelines import build_sd1, config_dict, make_dataset

from tuitune.jobs.listing import summarize
from tuitune.jobs.rundir import ControlRequest, RunDir, RunState
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError
from tuitune.train.loop import train

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trust_train")
    return {"sd1": build_sd1(root / "sd1"), "images": make_dataset(root / "images", count=4)}


def _config(world, tmp: Path, **sections) -> TrainConfig:
    sections = {"train": {"steps": 8, "batch_size": 2, "lr": 3e-3}, "lora": {"dropout": 0.1},
                "checkpoints": {"every": 3, "keep": 3}, **sections}
    return TrainConfig.from_dict(config_dict(world["sd1"], world["images"], **sections), base_dir=tmp)


def test_resume_skips_a_truncated_newest_checkpoint_says_so_and_ends_with_the_same_lora(world, tmp_path):
    config = _config(world, tmp_path)
    whole = RunDir(tmp_path / "whole")
    assert train(config, whole).state == "finished"

    cut = RunDir(tmp_path / "cut").create()

    def stop_at_7(step, total, row):
        if step == 7:
            cut.request(ControlRequest.STOP)

    assert train(config, cut, on_step=stop_at_7).state == "stopped"
    assert cut.checkpoint_steps() == [3, 6, 7]
    newest = cut.checkpoint_dir(7)
    biggest = max((p for p in newest.iterdir() if p.suffix in {".safetensors", ".bin"}), key=lambda p: p.stat().st_size)
    data = biggest.read_bytes()
    biggest.write_bytes(data[: len(data) // 2])  # a copy cut short; its COMPLETE marker is still there
    assert (newest / "COMPLETE").exists()
    assert summarize(cut).resume_step == 6  # the list no longer offers step 7

    outcome = train(config, cut, resume=True)
    assert outcome.state == "finished"
    events = cut.read_events()
    notes = [e["message"] for e in events if e["kind"] == "checkpoint_damaged"]
    assert len(notes) == 1 and "step 7" in notes[0] and "step 6" in notes[0] and biggest.name in notes[0]
    assert [e["step"] for e in events if e["kind"] == "resume"] == [6]
    assert (cut.checkpoints_dir / "step_7.damaged").is_dir()
    a, b = load_file(str(whole.lora_path)), load_file(str(cut.lora_path))
    assert a.keys() == b.keys() and a
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = cut.read_metrics()
    assert [m["step"] for m in rows] == list(range(1, 9))  # steps 7 was run twice, read once
    assert [m["loss"] for m in rows] == [m["loss"] for m in whole.read_metrics()]


def test_every_checkpoint_carries_checksums_of_its_files(world, tmp_path):
    run = RunDir(tmp_path / "run")
    assert train(_config(world, tmp_path, train={"steps": 3}), run).state == "finished"
    folder = run.checkpoint_dir(3)
    assert (folder / "checksums.json").is_file() and run.checkpoint_problem(3) is None
    (folder / "lora.safetensors").unlink()
    assert "lora.safetensors" in run.checkpoint_problem(3)
    assert run.checkpoint_steps() == []


# A training run whose second checkpoint meets a file-size limit: in torch's writer (the optimizer state) or in
# safetensors' (the LoRA). The tiny model's adapter is ~30 kB, its LoRA ~31 kB, its optimizer.bin ~96 kB.
WRITE_FAILURE = """
import resource, signal, sys
from accelerate import Accelerator
from tuitune.train import export
from tuitune.train.config import load_config
from tuitune.train.errors import TrainError
from tuitune.train.loop import train

config_file, run_dir, big = sys.argv[1:4]

def limit(size):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

def at_the_second(real, size, calls=[]):
    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            limit(size)
        return real(*args, **kwargs)
    return wrapped

if big == "state":
    Accelerator.save_state = at_the_second(Accelerator.save_state, 60_000)
else:
    export.save_lora = at_the_second(export.save_lora, 20_000)
try:
    train(load_config(config_file), run_dir)
except TrainError as exc:
    print("TrainError:", exc)
"""


@pytest.mark.parametrize("big", ["state", "lora"])
def test_a_checkpoint_write_that_fails_is_one_sentence_and_leaves_no_temp_folder(world, tmp_path, big):
    config = _config(world, tmp_path, train={"steps": 4, "batch_size": 2}, checkpoints={"every": 2, "keep": 3})
    config_file = tmp_path / "train.toml"
    config_file.write_text(config.frozen().to_toml(), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(WRITE_FAILURE), str(config_file),
                          str(tmp_path / "run"), big], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("TrainError: "), out.stdout + out.stderr
    message = lines[0].removeprefix("TrainError: ")
    assert "step 4" in message and "file-size limit" in message and "step 2" in message
    assert "enforce fail" not in message and "inline_container" not in message and "os error" not in message
    run = RunDir(tmp_path / "run")
    assert run.read_status()["state"] == "failed" and run.read_status()["message"] == message
    assert run.checkpoint_steps() == [2]
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == ["step_2"]  # nothing half-written is left


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def test_a_refused_fresh_start_in_a_finished_run_folder_touches_nothing(world, tmp_path):
    run = RunDir(tmp_path / "done").create()
    config = _config(world, tmp_path)
    run.run_toml.write_text(config.frozen().to_toml(), encoding="utf-8")
    step = run.checkpoint_dir(8)
    step.mkdir()
    (step / "lora.safetensors").write_bytes(b"lora")
    (step / "COMPLETE").write_text("8\n")
    run.lora_path.write_bytes(b"final lora")
    run.append_metric({"step": 8, "loss": 0.1})
    run.write_status(state=RunState.FINISHED, step=8, total_steps=8, pid=None, message="")
    run.append_event("finished", step=8)
    before = _snapshot(run.path)
    time.sleep(0.01)

    with pytest.raises(TrainError, match="--resume") as refused:
        train(config, run)
    assert "\n" not in str(refused.value)
    assert _snapshot(run.path) == before
    assert summarize(run).state is RunState.FINISHED
    assert not [e for e in run.read_events() if e["kind"] == "error"]
