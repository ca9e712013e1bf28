"""The Train screen shows a live run's wall speed, images/s, elapsed time, ETA, lr, checkpoints, where its LoRA
files go, and every sample it wrote, read from the files the trainer writes."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from PIL import Image
from test_jobs_progress import trainer_run
from test_ui import SIZE, app_for, make_project, switch_to, wait_for

from tuitune.ui.widgets.picture import Picture

pytestmark = pytest.mark.anyio


async def test_train_screen_shows_speed_eta_files_and_every_sample(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    run = trainer_run(root.parent / "proj", started=time.time() - 60)
    run.sample_dir(20).mkdir(parents=True)
    for n in range(4):
        Image.new("RGB", (32, 32), (40 * n, 90, 160)).save(run.sample_dir(20) / f"{n}.png")
    app = app_for(root)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "4", "train")
        screen = app.screen
        screen.selected = "train-x"
        screen.refresh_runs()
        await wait_for(pilot, lambda: "s/step" in str(screen.query_one("#run-line").render()))
        line = str(screen.query_one("#run-line").render())
        assert "step 20/50" in line and "2.00 s/step (0.50 it/s)" in line and "2.00 img/s" in line
        assert re.search(r"elapsed [1-9]m\d\ds", line) and "ETA 1m00s" in line  # a minute since it started
        files = str(screen.query_one("#run-files").render())
        assert "lr 0.0001" in files and "checkpoints 10, 20" in files and "runs/train-x/lora.safetensors" in files
        assert len(screen.query_one("#train-samples").query(Picture)) == 4
        assert "Samples at step 20 (4)" in str(screen.query_one("#samples-title").render())
