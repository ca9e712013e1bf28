"""Concepts screen: spec versions listed newest first, with the diff from a picked version to the current."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, press_to_focus, switch_to, wait_for

pytestmark = pytest.mark.anyio



async def test_picking_an_older_version_shows_what_changed_since(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    project = make_project(tmp_path / "proj")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "2", "concepts")
        screen = app.screen
        versions = screen.query_one("#versions-table")
        await wait_for(pilot, lambda: versions.row_count >= 2)
        assert [row.value for row in versions.rows] == ["2", "1"]
        shown = screen.query_one("#versions-diff")
        assert "current version" in str(shown.content)
        await press_to_focus(pilot, "v", focused="versions-table")
        await pilot.press("down")
        await wait_for(pilot, lambda: "added: modify 'colour'" in str(shown.content))
        await pilot.press("2")  # already here: nothing moves
        await press_to_focus(pilot, "escape", focused="concepts-table")
        assert app.current_mode == "concepts"
        await pilot.press("right", "right")
        await press_to_focus(pilot, "e", focused="concept-edit")  # edit shape's operation in place
        edit = screen.query_one("#concept-edit")
        edit.value = "remove"
        await pilot.press("enter")
        message = screen.query_one("#concepts-message")
        await wait_for(pilot, lambda: "Operation is keep, modify or delete" in str(message.content))
        edit.value = "delete"
        await pilot.press("enter")
        await wait_for(pilot, lambda: versions.row_count == 3)
        assert [row.value for row in versions.rows] == ["3", "2", "1"]
        versions.move_cursor(row=1)
        await wait_for(pilot, lambda: "shape: operation keep -> delete" in str(shown.content))
