"""What tuitune says: --help describes train, app and runs; attach ends its view with a newline; starting a run
says what it waits for, not a GPU a CPU-only machine lacks; the intent prompt does not assume a face."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, switch_to, wait_for

from tuitune.cli import main
from tuitune.jobs.rundir import RunDir, RunState


def help_of(command: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_help_describes_train_app_and_runs(capsys) -> None:
    assert "A project folder queues a run" in help_of("train", capsys)
    assert "Open the terminal app on a project folder" in help_of("app", capsys)
    assert "List every run of the project" in help_of("runs", capsys)
    with pytest.raises(SystemExit):
        main(["--help"])
    top = " ".join(capsys.readouterr().out.split())
    assert "of a project (queued as the app does) or from a config TOML" in top


def test_attach_to_a_finished_run_ends_its_view_before_the_last_line(tmp_path: Path, capsys) -> None:
    run = RunDir(tmp_path / "runs" / "detect-1").create()
    run.run_toml.write_text('[job]\nkind = "detect"\n', encoding="utf-8")
    run.write_status(state=RunState.FINISHED, kind="detect", step=3, total_steps=3, created=1.0)
    run.append_event("finished", step=3)
    assert main(["attach", str(run.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "detect-1: finished"
    assert lines[-2].strip().endswith("finished step 3")


@pytest.mark.anyio
async def test_starting_behind_another_run_names_it_instead_of_a_gpu(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)
    root = make_project(tmp_path / "proj")
    live = RunDir(root / "runs" / "train-live").create()
    live.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
    live.write_status(state=RunState.RUNNING, kind="train", pid=os.getpid(), step=1, total_steps=9, created=9.0)
    app = app_for(root)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "1", "intent")
        assert "face" not in str(app.screen.query_one("#chat-input").placeholder)
        await switch_to(pilot, "4", "train")
        await wait_for(pilot, lambda: app.screen.ready and app.screen.summary is not None)
        await pilot.press("s")
        await wait_for(pilot, lambda: any("Queued" in n.message for n in app._notifications))
        message = next(n.message for n in app._notifications if "Queued" in n.message)
        assert "it starts when train-live ends" in message and "GPU" not in message
