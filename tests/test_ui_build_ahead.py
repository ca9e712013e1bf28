"""Screens built ahead: switching to them costs no restyle, focus is where the first visit puts it, and the app
still works without the Textual internals the build-ahead uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, wait_for

pytestmark = pytest.mark.anyio

MODES = ("intent", "concepts", "dataset", "train", "generate")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    return make_project(tmp_path / "proj")


def all_built(app) -> bool:
    return set(MODES) <= set(app._screen_stacks) and not app._warm_steps and app._warm_redrawn


async def test_no_screen_switch_restyles_the_whole_app(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all_built(app))
        restyles = []
        monkeypatch.setattr(app, "refresh_css", lambda *a, **k: restyles.append(app.current_mode))
        # Back to the first screen too: it was mounted before Textual recorded it as styled.
        for key, mode in (("2", "concepts"), ("4", "train"), ("1", "intent"), ("5", "generate"), ("3", "dataset")):
            await pilot.press(key)
            await wait_for(pilot, lambda mode=mode: app.current_mode == mode)
        assert restyles == []


async def test_built_screens_have_their_first_widget_focused(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all_built(app))
        assert app._screen_stacks["train"][0].focused.id == "runs-table"
        assert app._screen_stacks["generate"][0].focused.id == "gen-history"
        await pilot.press("4")
        await wait_for(pilot, lambda: app.current_mode == "train")
        assert app.focused.id == "runs-table"
        # Tab goes to the first setting, not to the form around the settings.
        await pilot.press("tab")
        await wait_for(pilot, lambda: app.focused.id != "runs-table")
        assert "setting" in app.focused.classes


async def test_without_the_textual_internals_screens_are_built_on_first_visit(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuitune.ui import build_ahead

    monkeypatch.setattr(build_ahead, "APP_INTERNALS", (*build_ahead.APP_INTERNALS, "_not_in_this_textual"))
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(1.0)  # well past the moment the build-ahead starts
        assert set(app._screen_stacks) & set(MODES) == {"intent"}
        await pilot.press("4")
        await wait_for(pilot, lambda: app.current_mode == "train" and app.screen.ready)
        await wait_for(pilot, lambda: app.screen.query_one("#runs-table").row_count == 2)
        assert app.focused.id == "runs-table"
