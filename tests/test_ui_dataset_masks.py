"""Dataset and Concepts screens after detection: empty masks are no masks, i acts on the focused instances table,
the mask tint shows on a subject of its own colour, and the detection counts are on screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from test_ui import SIZE, app_for, make_project, press_to_focus, switch_to, wait_for
from test_ui_concepts import _detected
from test_ui_dataset import count_text, detected_project, open_dataset

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")  # watermark masks on item0 and item1
    # Detection found no watermark on item2 (an all-zero file) and a hand-made shape mask on item3 is empty.
    for stem, concept in (("item2", "watermark"), ("item3", "shape")):
        (root / "masks" / stem).mkdir(parents=True, exist_ok=True)
        Image.new("L", (32, 32), 0).save(root / "masks" / stem / f"{concept}.png")
    from tuitune.data.dataset import Dataset

    Dataset(root).save_masks_index({"item2": {"watermark": {"path": "masks/item2/watermark.png", "instances": []}}})
    return root


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_empty_masks_are_not_counted_in_badges_or_filters(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dataset(pilot)
        badges = {entry.label: entry.badge for entry in screen._entries}
        assert badges["item0"] == "1m" and badges["item2"] == "" and badges["item3"] == ""
        await press_to_focus(pilot, "slash", focused="dataset-filter")
        await pilot.press(*"mask:watermark")
        await wait_for(pilot, lambda: count_text(screen).startswith("2 of 6"))
        assert sorted(item.stem for item in screen.shown) == ["item0", "item1"]


async def test_mask_tint_shows_on_a_subject_of_the_tints_own_colour(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dataset(pilot)
        await pilot.press("right")  # to item0 (broken.png sorts first), a red picture with its watermark mask
        await wait_for(pilot, lambda: screen.current.stem == "item0")
        preview = screen.query_one("#dataset-preview")
        await pilot.press("m")
        await wait_for(pilot, lambda: "[b]watermark[/b]" in str(screen.query_one("#dataset-info").content))
        await wait_for(pilot, lambda: not preview.pending and preview.shown_image is not None)
        shown = preview.shown_image.convert("RGB").resize((32, 32))
        inside, outside = shown.getpixel((16, 29)), shown.getpixel((16, 8))
        assert outside == (200, 40, 40)
        assert sum((a - b) ** 2 for a, b in zip(inside, (200, 40, 40), strict=True)) ** 0.5 > 100


async def test_i_from_the_grid_goes_to_the_instances_and_acts_only_there(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = detected_project(tmp_path)
    app = app_for(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dataset(pilot)
        table = screen.query_one("#dataset-instances")
        await wait_for(pilot, lambda: table.row_count == 1)
        stem = screen.current.stem
        assert next(e.badge for e in screen._entries if e.label == stem) == "1m"
        await press_to_focus(pilot, "i", focused="dataset-instances")  # the grid had focus: nothing flipped
        await pilot.pause(0.3)
        assert str(table.get_row_at(0)[3]) == "yes"
        await pilot.press("i")
        await wait_for(pilot, lambda: table.row_count == 1 and str(table.get_row_at(0)[3]) == "no")
        # Its only instance rejected, the picture has no card mask any more.
        await wait_for(pilot, lambda: next(e.badge for e in screen._entries if e.label == stem) == "")


@pytest.mark.parametrize("size", [SIZE, (80, 24)])
async def test_concepts_show_the_detection_counts_on_screen(project: Path, size: tuple[int, int]) -> None:
    _detected(project, {"item0": {"watermark": [True], "shape": [True, False]},
                        "item1": {"watermark": [True, True]}, "item2": {"watermark": [], "shape": []}})
    app = app_for(project)
    async with app.run_test(size=size) as pilot:
        await switch_to(pilot, "2", "concepts")
        table = app.screen.query_one("#concepts-table")
        await wait_for(pilot, lambda: table.row_count == 3 and str(table.get_cell("watermark", "found")) == "3")
        await pilot.pause(0.2)
        header = next(line for line in screen_text(app).splitlines() if " name " in line)
        assert "found" in header  # in sight, not past the pane's right edge
        assert str(table.get_cell("shape", "found")) == "1"
