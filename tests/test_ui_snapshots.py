"""Snapshots of each screen at a fixed size on a fixed project (pytest-textual-snapshot)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_ui import make_project

SIZE = (120, 36)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    return make_project(tmp_path / "proj")


async def _settle(pilot) -> None:
    """Wait until thumbnails, pictures and plots are drawn, so the picture does not depend on timing."""
    deadline = time.monotonic() + 10
    screen = pilot.app.screen

    def busy() -> bool:
        grids = screen.query("ThumbGrid")
        if grids and (grids.first().pending or not grids.first().loads):
            return True
        if any(p.pending for p in screen.query("Picture")):
            return True
        return any(not plot.drawings for plot in screen.query("RunPlot"))

    while busy() and time.monotonic() < deadline:
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
def test_screen_snapshot(snap_compare, project: Path, key: str) -> None:
    from tuitune.ui.app import TuituneApp

    app = TuituneApp(project)
    assert snap_compare(app, press=[key], terminal_size=SIZE, run_before=_settle)


def test_help_snapshot(snap_compare, project: Path) -> None:
    from tuitune.ui.app import TuituneApp

    async def help_over_train(pilot) -> None:
        # The Train screen behind the help box must be drawn completely first, or the picture depends on timing.
        await pilot.press("4")
        await _settle(pilot)
        await pilot.press("f1")
        await pilot.pause(0.2)

    assert snap_compare(TuituneApp(project), terminal_size=SIZE, run_before=help_over_train)


def test_too_small_snapshot(snap_compare, project: Path) -> None:
    from tuitune.ui.app import TuituneApp

    assert snap_compare(TuituneApp(project), terminal_size=(50, 12))


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_train_eval_snapshot(snap_compare, project: Path, size: tuple[int, int]) -> None:
    """A run with intent metrics: the table fits under the run's samples with all its columns."""
    from test_ui_eval import append, eval_row

    from tuitune.ui.app import TuituneApp

    good = {"keep fidelity": 0.81, "modify flexibility": None, "delete absence": 0.9,
            "drift outside focus": 0.12, "drift on neutral prompts": 0.2, "intent score": 0.7}
    rows = [eval_row(f"step_{n}", n, {**good, "intent score": n / 100}) for n in range(10, 90, 10)]
    append(project / "runs" / "train-b", *rows, eval_row("final", None, {}, failed="the LoRA file is missing"))
    assert snap_compare(TuituneApp(project), press=["4"], terminal_size=size, run_before=_settle)
