"""The Dataset screen driven by Pilot: preview follows the cursor, unreadable pictures, filter, captions."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from test_ui import SIZE, app_for, make_project, press_to_focus, switch_to, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    return make_project(tmp_path / "proj")


def colour_of(n: int) -> tuple[int, int, int]:
    return (40 + 5 * n, 250 - 5 * n, (n * 37) % 256)


@pytest.fixture
def many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """40 plain pictures, each its own colour, and one broken file that sorts last (off the first screen)."""
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = tmp_path / "many"
    (root / "images").mkdir(parents=True)
    (root / "project.toml").write_text('name = "many"\n', encoding="utf-8")
    for n in range(40):
        Image.new("RGB", (24, 24), colour_of(n)).save(root / "images" / f"pic{n:02d}.png")
        (root / "images" / f"pic{n:02d}.txt").write_text(f"zxq {'red' if n % 4 == 0 else 'blue'} disc {n}",
                                                         encoding="utf-8")
    (root / "images" / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but the rest is not a png")
    return root


async def open_dataset(pilot):
    await switch_to(pilot, "3", "dataset")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.shown and getattr(pilot.app.focused, "id", None) == "dataset-grid")
    return screen


def count_text(screen) -> str:
    return str(screen.query_one("#dataset-count").render())


async def test_preview_ends_on_the_item_under_the_cursor_after_fast_keys(many: Path) -> None:
    app = app_for(many)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dataset(pilot)
        preview = screen.query_one("#dataset-preview")
        # Held keys: no pause between them, then back and forth, so older decodes finish after newer asks.
        for key in ["right"] * 7 + ["down"] * 3 + ["left", "right", "left"]:
            await pilot.press(key)
        await wait_for(pilot, lambda: not preview.pending)
        item = screen.current
        assert item.stem == "pic{:02d}".format(6 + 3 * screen.query_one("#dataset-grid").columns)
        assert preview.path == item.path
        n = int(item.stem.removeprefix("pic"))
        assert preview.shown_image.getpixel((12, 12)) == colour_of(n)
        await pilot.pause(0.3)  # any decode still in flight must not replace the picture afterwards
        assert preview.path == screen.current.path
        assert preview.shown_image.getpixel((12, 12)) == colour_of(n)


async def test_unreadable_filter_finds_a_picture_never_scrolled_to(many: Path) -> None:
    app = app_for(many)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dataset(pilot)
        grid = screen.query_one("#dataset-grid")
        broken = many / "images" / "zz_broken.png"
        await wait_for(pilot, lambda: not grid.checking)
        assert broken in grid.unreadable
        assert broken not in grid._cache and broken not in grid._wanted  # found by the check, not by a thumbnail
        assert "1 unreadable: zz_broken.png" in count_text(screen)
        await press_to_focus(pilot, "slash", focused="dataset-filter")
        await pilot.press(*"unreadable")
        await press_to_focus(pilot, "enter", focused="dataset-grid")
        await wait_for(pilot, lambda: not screen.filtering)
        assert [i.stem for i in screen.shown] == ["zz_broken"]
        assert "cannot read zz_broken.png" in (screen.query_one("#dataset-preview").message or "")


async def test_filter_in_a_thread_narrows_and_clears(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitune.ui.screens.dataset import DatasetScreen

    monkeypatch.setattr(DatasetScreen, "FILTER_IN_THREAD_FROM", 0)  # the path big projects take
    app = app_for(many)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dataset(pilot)
        await pilot.press("right", "right")
        await wait_for(pilot, lambda: screen.current.stem == "pic02")
        await press_to_focus(pilot, "slash", focused="dataset-filter")
        await pilot.press(*"red disc 1")
        # The box's last change reaches the screen after the key itself: wait for that query's result.
        await wait_for(pilot, lambda: screen.query_text == "red disc 1" and not screen.filtering)
        # The newest query wins: the results match what is typed, not a query typed on the way.
        assert [i.stem for i in screen.shown] == ["pic12", "pic16"]
        assert count_text(screen).startswith("2 of 41 items")
        for _ in "disc 1":
            await pilot.press("backspace")
        await wait_for(pilot, lambda: screen.query_text == "red " and not screen.filtering)
        assert [i.stem for i in screen.shown] == [f"pic{n:02d}" for n in range(0, 40, 4)]
        await pilot.press("ctrl+u")  # the filter box cleared: every item again
        await wait_for(pilot, lambda: not screen.filtering and len(screen.shown) == 41)
        await press_to_focus(pilot, "enter", focused="dataset-grid")
        assert screen.current.stem == "pic12"  # the item under the cursor stays under it as the filter changes
        assert count_text(screen).startswith("41 of 41 items")


async def test_dataset_lists_unreadable_filters_overlays_and_saves_caption(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dataset(pilot)
        grid = screen.query_one("#dataset-grid")
        await wait_for(pilot, lambda: grid.pending == 0 and not grid.checking)
        assert "broken.png" in count_text(screen)
        await press_to_focus(pilot, "slash", focused="dataset-filter")
        await pilot.press(*"mask:water")
        await press_to_focus(pilot, "enter", focused="dataset-grid")
        assert [i.stem for i in screen.shown] == ["item0", "item1"]
        await pilot.press("m")
        await wait_for(pilot, lambda: "[b]watermark[/b]" in str(screen.query_one("#dataset-info").content))
        await press_to_focus(pilot, "e", focused="dataset-caption")
        screen.query_one("#dataset-caption").text = ""
        await pilot.press(*"zxq red square", "ctrl+s")
        await wait_for(pilot, lambda: any("Saved the caption" in n.message for n in app._notifications))
    assert (project / "images" / "item0.txt").read_text().strip() == "zxq red square"


def detected_project(tmp_path: Path) -> Path:
    """A project of two pictures whose "card" instances were detected (one per picture)."""
    from tuitune.data.concepts import VisionBackends, detect_concepts
    from tuitune.data.importer import iter_import
    from tuitune.intent.spec import IntentSpec
    from tuitune.project.project import Project

    pics, root = tmp_path / "pics", tmp_path / "proj"
    pics.mkdir()
    for n in range(2):
        Image.new("RGB", (24, 24), colour_of(n)).save(pics / f"pic{n}.png")
    with Project.create(root):
        pass
    list(iter_import(pics, root, make_thumbnails=False))
    spec = IntentSpec.model_validate({"trigger_words": ["zxq"], "concepts": [
        {"name": "card", "granularity": "instance", "operation": "delete"}]})
    detect_concepts(root, spec, VisionBackends.load("whole-image", "box"))
    return root


async def test_rejecting_an_instance_shows_its_score_and_empties_the_mask(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitune.data.concepts import load_mask
    from tuitune.data.dataset import Dataset

    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = detected_project(tmp_path)
    app = app_for(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dataset(pilot)
        table = screen.query_one("#dataset-instances")
        await wait_for(pilot, lambda: table.row_count == 1)
        concept, number, score, accepted = (str(c) for c in table.get_row_at(0))
        assert (concept, number, accepted) == ("card", "1", "yes")
        assert float(score) > 0  # the detector's score when no reference similarity was measured
        await press_to_focus(pilot, "i", focused="dataset-instances")  # from the grid: to the instances first
        assert str(table.get_row_at(0)[3]) == "yes"
        await pilot.press("i")
        await wait_for(pilot, lambda: table.row_count == 1 and str(table.get_row_at(0)[3]) == "no")
        stem = screen.current.stem
    assert not load_mask(Dataset(root), stem, "card").any()  # training reads the decision


async def test_a_decision_saved_but_not_recorded_in_a_busy_project_shows_what_is_on_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitune.cli import UserError
    from tuitune.data.concepts import set_decision
    from tuitune.ui.project_view import ProjectView

    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = detected_project(tmp_path)

    def busy_after_the_mask(view, stem, concept, index, accepted):
        set_decision(view.root, stem, concept, index, accepted)  # masks.json and the mask file are written
        raise UserError("The project database is busy; try again in a moment.")

    monkeypatch.setattr(ProjectView, "set_instance_accepted", busy_after_the_mask)
    app = app_for(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dataset(pilot)
        table = screen.query_one("#dataset-instances")
        await wait_for(pilot, lambda: table.row_count == 1)
        await press_to_focus(pilot, "i", focused="dataset-instances")
        await pilot.press("i")
        await wait_for(pilot, lambda: any("database is busy" in n.message for n in app._notifications))
        # The table follows masks.json, so the next i flips it back instead of saving the same value again.
        await wait_for(pilot, lambda: str(table.get_row_at(0)[3]) == "no")


def test_the_picture_check_finds_a_truncated_jpeg_that_verify_lets_through(tmp_path: Path) -> None:
    from tuitune.ui.widgets.thumb_grid import check_picture

    Image.effect_noise((200, 150), 64).convert("RGB").save(tmp_path / "whole.jpg", quality=90)
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])  # a copy that stopped half way
    with Image.open(tmp_path / "cut.jpg") as img:
        img.verify()  # PIL's own check sees nothing wrong
    check_picture(tmp_path / "whole.jpg")
    with pytest.raises(OSError, match="truncated"):
        check_picture(tmp_path / "cut.jpg")
