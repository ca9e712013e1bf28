"""An app left alone does no work that shows nothing new, and its own background work never holds a key back."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, switch_to, wait_for

from tuitune.jobs.rundir import RunDir, RunState

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    return make_project(tmp_path / "proj")


async def test_a_key_pressed_while_screens_are_built_ahead_is_handled_at_once(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitune.ui import app as app_module

    # The build-ahead pauses before redrawing the built screens; made an hour, a key that had to wait for the
    # pause to end would never be handled within the test.
    monkeypatch.setattr(app_module, "WARM_REDRAW_SECONDS", 3600.0)
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app._warm_redrawn)  # every screen built, the pause begun
        await switch_to(pilot, "4", "train")
        await wait_for(pilot, lambda: app.screen.query_one("#runs-table").row_count == 2)


async def test_train_screen_redraws_a_run_only_when_something_changed(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "project.toml").write_text('name = "proj"\n[ui]\npoll_seconds = 0.1\n', encoding="utf-8")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "4", "train")
        screen = app.screen
        await wait_for(pilot, lambda: screen.ready and screen._applied is not None)
        shown = []
        apply = screen._apply
        monkeypatch.setattr(screen, "_apply", lambda snapshot: (shown.append(snapshot), apply(snapshot)))
        polls = []
        read = screen._read
        monkeypatch.setattr(screen, "_read", lambda selected: (polls.append(selected), read(selected))[1])
        await wait_for(pilot, lambda: len(polls) >= 5)  # a finished and a crashed run: nothing moves
        assert shown == []
        # A new run is shown at the next poll.
        run = RunDir(project / "runs" / "train-c").create()
        run.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
        run.write_status(state=RunState.FINISHED, pid=None, step=5, total_steps=5, created=9.0)
        await wait_for(pilot, lambda: any(row[0] == "train-c" for row in screen._shown_rows))
        assert shown

