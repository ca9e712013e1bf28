"""The Train screen's memory plan: the run the form would queue, planned in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_ui import make_project

from tuitune.errors import UserError
from tuitune.train import memory_plan
from tuitune.train.plan_file import plan_of_project_run

GIB = 1024**3


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "proj")
    (root / "project.toml").write_text('name = "proj"\nbase_model = "arch:sd15"\nmodel_kind = "sd1"\n',
                                       encoding="utf-8")
    (root / "train.toml").write_text('[data]\nresolution = 256\n[train]\ndevice = "cpu"\n', encoding="utf-8")
    return root


def test_the_form_choices_change_the_plan_and_a_machine_too_small_gets_the_change_that_fits(project, monkeypatch):
    monkeypatch.setattr(memory_plan, "device_free", lambda device: (64 * GIB, 0))
    one = plan_of_project_run(project, {"train": {"batch_size": 1}})
    eight = plan_of_project_run(project, {"train": {"batch_size": 8}})
    assert one["fits"] and one["device"] == "cpu" and one["lines"][0].startswith("Memory plan for arch:sd15 on cpu")
    assert eight["peak_bytes"] > one["peak_bytes"]  # the form's batch, not the project's default
    monkeypatch.setattr(memory_plan, "device_free", lambda device: (int(eight["peak_bytes"] * 0.8), 0))
    tight = plan_of_project_run(project, {"train": {"batch_size": 8}})
    assert not tight["fits"] and tight["changes"]
    assert tight["sentence"].startswith("Predicted peak memory") and "does not fit" in tight["sentence"]
    assert "set " in tight["sentence"] and "under [train]" in tight["sentence"]  # the change, named as in train.toml


def test_a_bad_choice_is_one_sentence_and_the_process_says_it_as_json(project):
    with pytest.raises((UserError, ValueError)):
        plan_of_project_run(project, {"train": {"batch_size": 0}})
    done = subprocess.run([sys.executable, "-m", "tuitune.train.plan_file", str(project)],
                          input=json.dumps({"train": {"batch_size": 1}}), capture_output=True, text=True, check=False)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and report["lines"] and "Predicted peak memory" in report["sentence"]
    bad = subprocess.run([sys.executable, "-m", "tuitune.train.plan_file", str(project)], input="{not json",
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"]


def test_train_project_plan_prints_the_plan_the_train_screen_shows(project, monkeypatch, capsys):
    from tuitune.cli import main

    monkeypatch.setattr(memory_plan, "device_free", lambda device: (64 * GIB, 0))
    screen = plan_of_project_run(project)  # the form left as the project's settings
    capsys.readouterr()
    assert main(["train", str(project), "--plan"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [*screen["lines"], screen["sentence"]]
    monkeypatch.setattr(memory_plan, "device_free", lambda device: (GIB, 0))
    assert main(["train", str(project), "--plan"]) == 1
    assert "does not fit" in capsys.readouterr().out
