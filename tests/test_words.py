"""What tuitune says: --help describes every command; attach ends its lines and its detach hint works from any
folder; starting a run says what it waits for, naming a GPU only where there is one; the intent prompt does not
assume a face."""

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
    monkeypatch.setattr("tuitune.jobs.machine.has_gpu", lambda: False)
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


def every_subcommand(parser, prefix=()):
    """(words typed, parser) of each subcommand at any depth."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from every_subcommand(sub, (*prefix, name))


def test_every_subcommand_says_what_it_does_in_its_own_help(capsys) -> None:
    from tuitune.cli import build_parser

    commands = list(every_subcommand(build_parser()))
    assert len(commands) > 20
    for words, _ in commands:
        with pytest.raises(SystemExit):
            main([*words, "--help"])
        usage, _, rest = capsys.readouterr().out.partition("\n\n")
        first = rest.splitlines()[0] if rest else ""
        # The text after the usage is a sentence, not straight away the list of arguments.
        assert first and not first.endswith(":"), f"`tuitune {' '.join(words)} --help` has no description"


def live_run(root: Path, name: str) -> RunDir:
    """A training run that is running (this test's own pid keeps it alive), so new jobs queue behind it."""
    run = RunDir(root / "runs" / name).create()
    run.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
    run.write_status(state=RunState.RUNNING, kind="train", pid=os.getpid(), step=1, total_steps=9, created=9.0)
    return run


def test_attach_ends_each_line_and_its_detach_hint_works_from_another_folder(
        tmp_path: Path, monkeypatch, capsys) -> None:
    import tuitune.jobs.attach as attach

    root = make_project(tmp_path / "proj")
    live_run(root, "detect-live")
    real_follow = attach.follow

    def detach_after_first_view(run, interval=0.5, sleep=None):  # Ctrl-C once the view is drawn
        yield next(real_follow(run, interval))
        raise KeyboardInterrupt

    monkeypatch.setattr(attach, "follow", detach_after_first_view)
    monkeypatch.chdir(root)  # inside the project, where the run's name alone finds it
    assert main(["attach", "detect-live"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "detect-live: running"
    detached = lines[-2]
    assert detached.startswith("Detached; the run goes on. `tuitune attach ")  # on a line of its own
    assert any(line.startswith("progress") for line in lines)  # not run on after the progress bar
    hint = detached.split("`")[1].split()
    assert hint[:2] == ["tuitune", "attach"] and Path(hint[2]).is_absolute()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the hint, typed in another folder, follows the same run
    assert main(hint[1:]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "detect-live: running"


@pytest.mark.parametrize("gpu", [False, True])
def test_a_queued_evaluation_names_the_gpu_only_where_there_is_one(tmp_path: Path, monkeypatch, capsys, gpu) -> None:
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)
    monkeypatch.setattr("tuitune.jobs.machine.has_gpu", lambda: gpu)
    root = make_project(tmp_path / "proj")
    live_run(root, "train-live")
    assert main(["eval", str(root / "runs" / "train-a"), "--detach"]) == 0
    said = capsys.readouterr().out
    assert "queued (it starts when train-live finishes" in said
    assert ("one GPU job at a time" in said) is gpu and ("GPU" in said) is gpu


@pytest.mark.anyio
async def test_a_queued_generation_names_the_gpu_only_where_there_is_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    live_run(root, "train-live")
    app = app_for(root)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        screen = app.screen
        monkeypatch.setattr("tuitune.jobs.machine.has_gpu", lambda: False)
        without = screen.queued_message("generate-new")
        monkeypatch.setattr("tuitune.jobs.machine.has_gpu", lambda: True)
        with_gpu = screen.queued_message("generate-new")
    assert "waits for train-live to finish (one job at a time)" in without and "GPU" not in without
    assert "(one GPU job at a time)" in with_gpu


def test_a_gpu_is_told_from_the_drivers_files(tmp_path: Path, monkeypatch) -> None:
    from tuitune.jobs import machine

    gpus = tmp_path / "gpus"
    gpus.mkdir()
    monkeypatch.setattr(machine, "NVIDIA_GPUS", gpus)
    monkeypatch.setattr(machine, "DEVICE_FILES", (tmp_path / "nvidia0",))
    monkeypatch.setattr(machine.platform, "machine", lambda: "x86_64")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert not machine.has_gpu() and machine.one_at_a_time() == "one job at a time"
    (gpus / "0000:01:00.0").mkdir()
    assert machine.has_gpu() and machine.one_at_a_time() == "one GPU job at a time"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # every GPU hidden from the jobs started from here
    assert not machine.has_gpu()
