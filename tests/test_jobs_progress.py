"""A run's speed and ETA come from wall time (samples, checkpoints and start-up count), as the trainer writes
its rows; ``tuitune attach`` shows the same lines as the Train screen."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from rich.console import Console

from tuitune.jobs.attach import RunView, render
from tuitune.jobs.listing import summarize
from tuitune.jobs.rundir import RunDir, RunState

STARTED = 1000.0


def trainer_run(root: Path, steps: int = 20, total: int = 50, started: float = STARTED) -> RunDir:
    """A live training run as the trainer leaves it: 1 s of work per step, but a step every 2 s of wall time
    (a sample or a checkpoint between steps), 10 s of start-up, 4 images a step, checkpoints at 10 and 20."""
    run = RunDir(root / "runs" / "train-x").create()
    run.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
    run.write_status(state=RunState.RUNNING, pid=os.getpid(), step=steps, total_steps=total, created=started - 5,
                     started=started)
    for step in range(1, steps + 1):
        run.append_metric({"step": step, "time": started + 10 + 2.0 * step, "loss": 1.0 / step, "lr": 1e-4,
                           "s_per_step": 1.0, "images_per_s": 4.0, "memory_mb": 512.0})
    for step in (10, 20):
        run.checkpoint_dir(step).mkdir(parents=True)
        (run.checkpoint_dir(step) / "COMPLETE").write_text("")
    return run


def test_speed_and_eta_count_the_time_between_steps(tmp_path: Path) -> None:
    run = trainer_run(tmp_path)
    summary = summarize(run, now=STARTED + 60)
    assert summary.speed.seconds_per_step == pytest.approx(2.0)  # wall, not the 1.0 s the steps took alone
    assert summary.speed.images_per_second == pytest.approx(2.0)
    assert summary.speed.elapsed == pytest.approx(60.0)  # from the start, start-up included
    assert summary.speed.eta == pytest.approx(60.0)  # 30 steps left at 2 s each
    line = summary.progress_line()
    assert "2.00 s/step (0.50 it/s)" in line and "2.00 img/s" in line
    assert "elapsed 1m00s" in line and "ETA 1m00s" in line
    files = summary.files_line()
    assert "lr 0.0001" in files and "checkpoints 10, 20" in files
    assert "runs/train-x/lora.safetensors" in files  # where the LoRA will be


def test_a_finished_run_names_its_lora_files_and_has_no_eta(tmp_path: Path) -> None:
    run = trainer_run(tmp_path, steps=50)
    run.write_status(state=RunState.FINISHED, step=50, ended=STARTED + 120)
    run.lora_path.write_bytes(b"x")
    (run.path / "lora_kohya.safetensors").write_bytes(b"x")
    summary = summarize(run, now=STARTED + 9999)
    assert summary.speed.eta is None and summary.speed.elapsed == pytest.approx(120.0)
    assert "LoRA: runs/train-x/lora.safetensors, lora_kohya.safetensors" in summary.files_line()


def test_a_resumed_run_measures_its_speed_from_the_resume_on(tmp_path: Path) -> None:
    run = trainer_run(tmp_path, steps=10)
    resumed = STARTED + 5000
    run.write_status(started=resumed, step=12)
    for step in (11, 12):  # after the resume: 3 s a step
        run.append_metric({"step": step, "time": resumed + 3.0 * step, "loss": 0.1, "lr": 1e-4})
    assert summarize(run, now=resumed + 40).speed.seconds_per_step == pytest.approx(3.0)


def test_attach_shows_the_speed_eta_and_files(tmp_path: Path) -> None:
    run = trainer_run(tmp_path, started=time.time() - 60)
    view = RunView(run)
    view.update()
    console = Console(record=True, width=200)
    console.print(render(view))
    text = console.export_text()
    assert "2.00 s/step" in text and "img/s" in text and "elapsed" in text and "ETA" in text
    assert "lr 0.0001" in text and "checkpoints 10, 20" in text and "lora.safetensors" in text
