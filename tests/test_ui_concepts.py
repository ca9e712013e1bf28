"""Concepts screen: spec versions listed newest first, with the diff from a picked version to the current."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, press_to_focus, switch_to, wait_for

pytestmark = pytest.mark.anyio



@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    return make_project(tmp_path / "proj")


async def test_picking_an_older_version_shows_what_changed_since(project: Path) -> None:
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


def _detected(root: Path, per_item: dict[str, dict[str, list[bool]]]) -> None:
    """Write masks.json as a detection job does: per item and concept, its instances and their decisions."""
    from tuitune.data.dataset import Dataset

    Dataset(root).save_masks_index({
        stem: {concept: {"path": f"masks/{stem}/{concept}.png",
                         "instances": [{"box": [0, 0, 8, 8], "score": 0.9, "accepted": a} for a in accepted]}
               for concept, accepted in concepts.items()}
        for stem, concepts in per_item.items()})


async def test_found_counts_follow_masks_json_while_shown_and_after_a_visit_elsewhere(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "2", "concepts")
        screen = app.screen
        table = screen.query_one("#concepts-table")
        await wait_for(pilot, lambda: table.row_count == 3)

        def found() -> dict[str, str]:
            return {key.value: str(table.get_cell(key, "found")) for key in table.rows}

        assert found() == {"shape": "", "watermark": "", "colour": ""}
        await pilot.press("right", "right")  # the user's cell stays put when the counts change
        # A detection job finishes while the screen is shown.
        _detected(project, {"item0": {"watermark": [True], "shape": [True, False]},
                            "item1": {"watermark": [True, True]}})
        await wait_for(pilot, lambda: found() == {"shape": "1", "watermark": "3", "colour": ""})
        assert table.cursor_coordinate.column == 2
        # Another one finishes while the user is on the Dataset screen: coming back shows it.
        await switch_to(pilot, "3", "dataset")
        _detected(project, {"item0": {"colour": [True]}})
        await switch_to(pilot, "2", "concepts")
        await wait_for(pilot, lambda: found() == {"shape": "", "watermark": "", "colour": "1"})
