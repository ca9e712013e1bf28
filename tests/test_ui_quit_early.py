"""Quitting, or opening another project, while the app is still building screens ahead of time."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import SIZE, make_project, wait_for

from tuitune.ui.app import SCREENS_IN_ORDER, TuituneApp

pytestmark = pytest.mark.anyio
SCREEN_CLASSES = {"intent": "IntentScreen", "concepts": "ConceptsScreen", "dataset": "DatasetScreen",
                  "train": "TrainScreen", "generate": "GenerateScreen"}



@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    return make_project(tmp_path / "proj")


class QuitWhileBuilding(TuituneApp):
    """Told to exit (a hang-up, a test leaving ``run_test``) the moment it starts building ``target``."""

    def __init__(self, path: Path, target: str) -> None:
        super().__init__(path)
        self.target = target

    def _load_screen_css(self, screen) -> None:
        super()._load_screen_css(screen)
        if type(screen).__name__ == self.target and self.project is not None:
            self.exit(0)


@pytest.mark.parametrize("mode", SCREENS_IN_ORDER)
async def test_quitting_while_a_screen_is_being_built_exits_cleanly(project: Path, mode: str) -> None:
    app = QuitWhileBuilding(project, SCREEN_CLASSES[mode])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: not app.is_running, timeout=30)
    # A crash would have raised out of run_test and set the exit code to 1.
    assert app.return_code == 0


class OpenOtherWhileBuilding(TuituneApp):
    """Opens ``other`` at the moment the app starts building the Dataset screen for the first project."""

    def __init__(self, path: Path, other: Path) -> None:
        super().__init__(path)
        self.other = other

    def _load_screen_css(self, screen) -> None:
        super()._load_screen_css(screen)
        if type(screen).__name__ == "DatasetScreen" and self.project is not None and self.project.root != self.other:
            self.call_next(self.open_project, self.other)


async def test_opening_another_project_while_a_screen_is_being_built_shows_the_new_one(
        project: Path, tmp_path: Path) -> None:
    other = make_project(tmp_path / "other")
    (other / "images" / "item0.txt").write_text("only the other project says this", encoding="utf-8")
    app = OpenOtherWhileBuilding(project, other)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.project is not None and app.project.root == other, timeout=30)
        await pilot.press("3")
        await wait_for(pilot, lambda: getattr(app.screen, "shown", None), timeout=30)
        assert app.screen.project.root == other
        item0 = next(i for i in app.screen.items if i.stem == "item0")
        assert item0.caption == "only the other project says this"


async def test_a_slow_open_of_another_project_never_leaves_a_screen_without_a_project(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Dataset screen is reading the project in a thread when the user opens another one, which takes a
    while (a slow disk): the thread sees the old project or the new one, never none, what it read is not shown
    for the new project, and the app does not crash."""
    import asyncio
    import time

    import tuitune.ui.project_view as project_view
    from tuitune.ui.screens.dataset import DatasetScreen

    other = make_project(tmp_path / "other")
    (other / "images" / "item0.txt").write_text("only the other project says this", encoding="utf-8")
    real_open, real_stamp = project_view.open_handle, DatasetScreen._files_stamp

    def slow_open(root: Path, readonly: bool):
        if Path(root) == other:
            time.sleep(1.0)
        return real_open(root, readonly)

    def slow_stamp(self):
        time.sleep(0.3)  # the thread reads the project again while the other one is being opened
        return real_stamp(self)

    app = TuituneApp(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "dataset" and app.screen.shown)
        monkeypatch.setattr(project_view, "open_handle", slow_open)
        monkeypatch.setattr(DatasetScreen, "_files_stamp", slow_stamp)
        app.screen._load(None)
        await asyncio.sleep(0.1)  # the worker's thread is under way (it sleeps in slow_stamp)
        app.open_project(other)
        await pilot.pause(0.5)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "dataset" and getattr(app.screen, "shown", None))
        assert app.screen.project.root == other
        item0 = next(i for i in app.screen.items if i.stem == "item0")
        assert item0.caption == "only the other project says this"
        assert app.is_running
    assert app.return_code in (0, None)


async def test_a_folder_that_cannot_be_opened_leaves_the_open_project_shown(project: Path, tmp_path: Path) -> None:
    """The user opens something that is not a project: one sentence, and the project they had stays open."""
    app = TuituneApp(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "dataset" and app.screen.shown)
        not_a_project = tmp_path / "plain.txt"
        not_a_project.write_text("a file, not a project folder", encoding="utf-8")
        app.open_project(not_a_project)
        await pilot.pause()
        assert app.project is not None and app.project.root == project
        assert any(n.severity == "error" for n in app._notifications)
        await pilot.press("1")
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "dataset" and app.screen.shown)
        assert app.screen.project.root == project


async def test_dataset_preview_keeps_a_picture_on_a_small_terminal(project: Path) -> None:
    """At 60x16 the caption and instances below it used to squeeze the preview to nothing."""
    app = TuituneApp(project)
    async with app.run_test(size=(60, 16)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "dataset" and app.screen.shown)
        preview = app.screen.query_one("#dataset-preview")
        if app.screen.current.stem == "broken":  # the unreadable file is listed first
            await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "dataset-grid")
            await pilot.press("right")
        await wait_for(pilot, lambda: preview.message is None and not preview.pending)
        assert preview.content_region.height >= 5  # 10 pixel rows: the picture is recognisable
        caption = app.screen.query_one("#dataset-caption")
        # The caption's text lines stay above the key bar (its bottom border may go under it).
        assert caption.content_region.bottom <= app.screen.query_one("KeyBar").region.y
