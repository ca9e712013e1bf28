"""The Train screen's runs table shows every run's whole state word at common terminal widths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_ui import app_for, make_project, wait_for

from tuitune.jobs.rundir import RunDir, RunState

pytestmark = pytest.mark.anyio



def screen_lines(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


@pytest.mark.parametrize("width", [80, 120])
async def test_state_words_are_whole_after_a_run_changes_state(tmp_path: Path, monkeypatch, width: int) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")  # train-a finished, train-b crashed
    run = RunDir(root / "runs" / "train-20250101-123456").create()
    run.write_status(state=RunState.RUNNING, pid=None, step=3, total_steps=400, created=5.0)
    app = app_for(root)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        # The state grows from "running" (shown first) to a longer word in place.
        run.write_status(state=RunState.STOPPING, pid=None, step=400, total_steps=400, created=5.0)
        app.screen.refresh_runs()
        await wait_for(pilot, lambda: app.screen._shown_rows and app.screen._shown_rows[0][1] is RunState.STOPPING)
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        for state, step in (("stopping", "400/400"), ("crashed", "12/100"), ("finished", "40/40")):
            assert re.search(rf"(^|\s){state}\s+{re.escape(step)}\s", text, re.MULTILINE), (state, text)
        # The whole run name: in its column when wide, under its state and step below 120 columns.
        assert "train-20250101-123456" in text.split("Settings")[0]


async def test_runs_table_changes_shape_when_the_terminal_crosses_120_columns(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    run = RunDir(root / "runs" / "train-20250101-123456").create()
    run.write_status(state=RunState.RUNNING, pid=None, step=1234, total_steps=100000, created=5.0)
    app = app_for(root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: app.current_mode == "train" and app.screen.ready)
        runs_pane = lambda: "\n".join(screen_lines(app)).split("Settings")[0]  # noqa: E731
        await wait_for(pilot, lambda: "train-20250101-123456" in runs_pane())
        left = [line[:38].strip() for line in screen_lines(app)]  # the runs pane's columns at 80
        row = next(i for i, line in enumerate(left) if line.startswith("running"))
        assert re.fullmatch(r"running\s+1234/100000", left[row]) and left[row + 1] == "train-20250101-123456"
        await pilot.resize_terminal(130, 30)
        await wait_for(pilot, lambda: re.search(r"running\s+1234/100000\s+train-20250101-123456", runs_pane()))
        assert "state" in runs_pane()
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "state" not in runs_pane())
        assert app.screen.selected == "train-20250101-123456"


async def test_a_queued_run_shows_a_still_progress_bar(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    queued = RunDir(root / "runs" / "generate-1").create()
    queued.write_status(state=RunState.QUEUED, pid=None, step=0, created=9.0)
    app = app_for(root)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        app.screen.selected = "generate-1"
        app.screen.refresh_runs()
        await pilot.pause()
        assert "generate-1" in str(app.screen.query_one("#run-title").render())
        bar = app.screen.query_one("#run-progress")
        assert bar.total is not None and bar.progress == 0  # an empty bar, not the animated "unknown" one


async def test_a_slow_poll_does_not_take_the_cursor_back(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    app = app_for(root)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        screen = app.screen
        screen.selected = "train-a"
        screen.refresh_runs()
        stale = screen._read("train-a")  # a poll that started while train-a was selected...
        await pilot.press("down" if screen.query_one("#runs-table").cursor_row == 0 else "up")
        await pilot.pause()
        assert screen.selected == "train-b"
        screen._apply_poll(stale, "train-a")  # ...and lands after the user moved to train-b
        await pilot.pause()
        assert screen.selected == "train-b"
        assert "train-b" in str(screen.query_one("#run-title").render())
