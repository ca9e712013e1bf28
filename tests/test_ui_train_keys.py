"""Train screen keys act on the run the user picked: x stops a live run, r resumes a dead one, the pick stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import app_for, make_project, wait_for

from tuitune.jobs.rundir import RunDir, RunState

pytestmark = pytest.mark.anyio



@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    return make_project(tmp_path / "proj")  # train-b (crashed) is listed first, train-a (finished) second


def _save_selection(root: Path, run: str) -> None:
    from tuitune.project.project import Project

    with Project.open(root) as handle:
        handle.db.ui_set("app", {"screen": "intent", "selection": {"train": {"run": run}}})


async def test_a_restored_selection_on_a_lower_row_stays_and_costs_nothing_while_idle(project: Path) -> None:
    _save_selection(project, "train-a")
    app = app_for(project)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: "train-a" in str(screen.query_one("#run-title").render()))
        reads = []
        original = screen._read
        screen._read = lambda selected: reads.append(selected) or original(selected)
        await pilot.press("1")  # another screen: the Train screen must not read runs any more
        await pilot.pause(0.5)  # a read already under way when the key came may finish
        reads.clear()
        await pilot.pause(1.5)
        assert reads == []
        await pilot.press("4")
        await pilot.pause(0.5)
        assert screen.selected == "train-a"
        assert screen.query_one("#runs-table").cursor_row == 1
        # Nothing changes on disk: a catch-up read on showing the screen, then the one-second timer only.
        assert set(reads) == {"train-a"} and len(reads) <= 3


async def test_a_dead_worker_is_said_and_r_queues_the_run_again(project: Path, monkeypatch) -> None:
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)  # no worker process
    _save_selection(project, "train-b")
    app = app_for(project)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: "worker died" in str(screen.query_one("#run-alert").render()))
        assert "r to resume" in str(screen.query_one("#run-alert").render())
        await pilot.press("r")
        dead = RunDir(project / "runs" / "train-b")
        await wait_for(pilot, lambda: dead.state() is RunState.QUEUED)
        await wait_for(pilot, lambda: "queued" in str(screen.query_one("#run-line").render()))
        assert "worker died" not in str(screen.query_one("#run-alert").render())


@pytest.mark.slow
async def test_x_stops_a_live_run_after_a_poll_filled_the_table(project: Path) -> None:
    from tuitune.jobs.control import stop
    from tuitune.jobs.queue import submit

    run = submit(project / "runs", "count", {"count": {"steps": 100000, "step_seconds": 0.02,
                                                       "checkpoint_every": 50}}, gpu=False)
    _save_selection(project, "train-a")  # the live run is not the one the screen opens on
    app = app_for(project)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("4")
            screen = app.screen
            await wait_for(pilot, lambda: screen.selected == "train-a" and screen._shown_rows)
            await wait_for(pilot, lambda: run.state() is RunState.RUNNING, timeout=20)
            await pilot.pause(1.2)  # a timer poll lands
            row = [r[0] for r in screen._shown_rows].index(run.name)
            await pilot.press(*["up"] * 3, *["down"] * row)
            await wait_for(pilot, lambda: run.name in str(screen.query_one("#run-title").render()))
            await pilot.press("x")
            assert any("Stopping" in n.message for n in app._notifications)
            await wait_for(pilot, lambda: run.state() is RunState.STOPPED, timeout=20)
            await wait_for(pilot, lambda: "Stopped" in str(screen.query_one("#run-alert").render()))
            assert RunDir(project / "runs" / "train-a").state() is RunState.FINISHED
    finally:
        if not run.state().is_final:
            stop(run, grace=2.0, wait=5.0)


async def test_t_goes_to_the_steps_field_where_typed_digits_replace_the_number(project: Path) -> None:
    from textual.widgets import Input

    from tuitune.ui.widgets.key_bar import KeyBar

    app = app_for(project)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        screen = app.screen
        steps = screen.query_one("#set-train-steps", Input)
        await wait_for(pilot, lambda: steps.value != "")  # the form is filled from the project
        assert "t Steps" in str(screen.query_one(KeyBar).render())
        await pilot.press("t")
        assert screen.focused is steps
        await pilot.press("2", "0")
        assert steps.value == "20"
        await pilot.press("escape")  # back to the runs, where s would start with these settings
        assert screen.focused is screen.query_one("#runs-table")
        assert {s.key: v for s, v in screen.raw_form().items()}["steps"] == "20"
        # Inside a text field t is a letter like any other.
        base = screen.query_one("#set-model-base", Input)
        base.focus()
        await pilot.pause()
        await pilot.press("end", "t")
        assert screen.focused is base and base.value.endswith("t")


async def test_m_plans_the_memory_of_the_settings_in_the_form_before_s(project: Path) -> None:
    """The plan is of the form as it is (not the saved train.toml), made in a process of its own, and nothing is
    queued or saved by it."""
    import re

    from textual.widgets import Input, Static

    (project / "project.toml").write_text('name = "proj"\nbase_model = "arch:sd15"\nmodel_kind = "sd1"\n',
                                          encoding="utf-8")
    runs_before = sorted(p.name for p in (project / "runs").iterdir())
    app = app_for(project)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        screen = app.screen
        batch = screen.query_one("#set-train-batch_size", Input)
        await wait_for(pilot, lambda: batch.value != "")
        plan = screen.query_one("#train-plan", Static)
        shown: list[str] = []
        for size in ("1", "8"):
            batch.value = size
            await pilot.press("escape", "m")
            await wait_for(pilot, lambda: plan.display and "Predicted peak memory" in str(plan.render())
                           and str(plan.render()) not in shown, timeout=180)
            shown.append(str(plan.render()))
        assert all(text.startswith("Memory plan on cpu: weights ") for text in shown)
        activations = [float(re.search(r"activations ([\d.]+)", text).group(1)) for text in shown]
        assert activations[1] > activations[0]  # batch 8 in the form, not the project's batch
        said = [n.message for n in app._notifications if n.message.startswith("Predicted peak memory")]
        assert len(said) == 2
    assert sorted(p.name for p in (project / "runs").iterdir()) == runs_before
    assert not (project / "train.toml").exists()
