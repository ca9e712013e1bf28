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
    """Wait until thumbnails and previews are drawn, so the picture does not depend on timing."""
    deadline = time.monotonic() + 5
    grid = pilot.app.screen.query("ThumbGrid")
    while grid and (grid.first().pending or not grid.first().loads) and time.monotonic() < deadline:
        await pilot.pause(0.05)
    await pilot.pause(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
def test_screen_snapshot(snap_compare, project: Path, key: str) -> None:
    from tuitune.ui.app import TuituneApp

    app = TuituneApp(project)
    assert snap_compare(app, press=[key], terminal_size=SIZE, run_before=_settle)


def test_help_snapshot(snap_compare, project: Path) -> None:
    from tuitune.ui.app import TuituneApp

    assert snap_compare(TuituneApp(project), press=["4", "f1"], terminal_size=SIZE)


def test_too_small_snapshot(snap_compare, project: Path) -> None:
    from tuitune.ui.app import TuituneApp

    assert snap_compare(TuituneApp(project), terminal_size=(50, 12))
