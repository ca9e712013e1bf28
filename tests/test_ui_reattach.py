"""Reopening the app while a training run is at work (an SSH link dropped) shows that run, not the finished
detection job that was selected when the link went."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, wait_for

from tuitune.jobs.rundir import RunDir, RunState

pytestmark = pytest.mark.anyio


async def test_reopened_app_selects_the_live_training_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    now = time.time()
    live = RunDir(root / "runs" / "train-live").create()
    live.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
    live.write_status(state=RunState.RUNNING, kind="train", pid=os.getpid(), step=5, total_steps=100,
                      created=now - 120, started=now - 110)
    for step in range(1, 6):
        live.append_metric({"step": step, "time": now - 100 + step, "loss": 0.3, "lr": 1e-4})
    detect = RunDir(root / "runs" / "detect-1").create()  # newer, finished, and selected when the link dropped
    detect.run_toml.write_text('[job]\nkind = "detect"\n', encoding="utf-8")
    detect.write_status(state=RunState.FINISHED, kind="detect", pid=None, step=6, total_steps=6, created=now - 60)
    from tuitune.project.project import Project

    with Project.open(root) as handle:
        handle.db.ui_set("app", {"screen": "train", "selection": {"train": {"run": "detect-1"}}})
    app = app_for(root)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.current_mode == "train" and app.screen.ready)
        screen = app.screen
        await wait_for(pilot, lambda: screen.summary is not None)
        assert screen.selected == "train-live" and screen.summary.name == "train-live"
        assert "Run train-live" in str(screen.query_one("#run-title").render())
        assert screen.summary.losses  # its loss plot has points
