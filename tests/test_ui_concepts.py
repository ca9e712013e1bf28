"""Concepts screen: spec versions listed newest first, with the diff from a picked version to the current."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_picking_an_older_version_shows_what_changed_since(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    project = make_project(tmp_path / "proj")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        versions = screen.query_one("#versions-table")
        assert [row.value for row in versions.rows] == ["2", "1"]
        shown = screen.query_one("#versions-diff")
        assert "current version" in str(shown.content)
        await pilot.press("v")
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()
        assert "added: modify 'colour'" in str(shown.content)
        await pilot.press("2")  # already here: nothing moves
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("right", "right", "e")  # edit shape's operation in place
        await pilot.pause()
        edit = screen.query_one("#concept-edit")
        edit.value = "remove"
        await pilot.press("enter")
        assert "Operation is keep, modify or delete" in str(screen.query_one("#concepts-message").content)
        edit.value = "delete"
        await pilot.press("enter")
        await pilot.pause()
        assert [row.value for row in versions.rows] == ["3", "2", "1"]
        versions.move_cursor(row=1)
        await pilot.pause()
        assert "shape: operation keep -> delete" in str(shown.content)
