"""A project's accelerate config file: where it is named, the launch command built from it, and its one-sentence
errors (missing, not YAML, not an accelerate config, outside the project, gone by the time a run resumes)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w

from tuitune.errors import UserError
from tuitune.jobs import control
from tuitune.jobs.accelerate_config import other_machines_command, read_accelerate_config
from tuitune.jobs.launch import WORKER_MODULE, launch, worker_command
from tuitune.jobs.queue import create_run, start_next
from tuitune.jobs.rundir import RunState
from tuitune.project.project import Project
from tuitune.train.project_run import base_config, job_config

ONE_MACHINE = """\
compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_machines: 1
num_processes: 2
machine_rank: 0
mixed_precision: 'no'
"""
TWO_MACHINES = """\
compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_machines: 2
num_processes: 16
machine_rank: 0
main_process_ip: 10.0.0.1
main_process_port: 29500
mixed_precision: bf16
"""


def _project(tmp_path: Path, accelerate: str | None = "accelerate.yaml", yaml_text: str = ONE_MACHINE) -> Path:
    root = tmp_path / "proj"
    Project.create(root).close()
    settings = root / "project.toml"
    data = tomllib.loads(settings.read_text(encoding="utf-8"))
    if accelerate is not None:
        data["accelerate"] = {"config": accelerate}
    settings.write_text(tomli_w.dumps(data), encoding="utf-8")
    (root / "accelerate.yaml").write_text(yaml_text, encoding="utf-8")
    return root


def _run(root: Path):
    config, warning = base_config(root)
    assert warning is None
    return create_run(root / "runs", "train", job_config(root, config))


def test_project_setting_launches_the_run_through_accelerate_with_that_file(tmp_path: Path) -> None:
    root = _project(tmp_path)
    run = _run(root)
    frozen = tomllib.loads(run.run_toml.read_text(encoding="utf-8"))
    # Relative to the run folder, so a moved project's run still finds its file.
    assert frozen["job"]["accelerate_config"] == "../../accelerate.yaml"
    command = worker_command(run, frozen, resume=True)
    port = command.index("--main_process_port")  # one machine, no port in the file: a free one
    assert command[:port] == [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                              str((root / "accelerate.yaml").resolve()), "--mixed_precision", "no"]
    assert int(command[port + 1]) > 0
    assert command[port + 2:] == ["-m", WORKER_MODULE, str(run.path.resolve()), "--resume"]


def test_a_port_in_the_file_is_left_to_accelerate_and_train_toml_can_name_another_file(tmp_path: Path) -> None:
    root = _project(tmp_path, accelerate=None)
    (root / "cluster.yaml").write_text(TWO_MACHINES, encoding="utf-8")
    (root / "train.toml").write_text('[accelerate]\nconfig = "cluster.yaml"\n', encoding="utf-8")
    run = _run(root)
    frozen = tomllib.loads(run.run_toml.read_text(encoding="utf-8"))
    command = worker_command(run, frozen)
    assert "--main_process_port" not in command
    assert command[3:5] == ["--config_file", str((root / "cluster.yaml").resolve())]
    named = read_accelerate_config(root / "cluster.yaml")
    assert (named.num_processes, named.num_machines) == (16, 2)
    hint = other_machines_command(named, ["-m", WORKER_MODULE, str(run.path)])
    assert "machine_rank 1 to 1" in hint and f"-m {WORKER_MODULE} {run.path}" in hint


def test_no_setting_keeps_the_plain_one_process_command(tmp_path: Path) -> None:
    root = _project(tmp_path, accelerate=None)
    run = _run(root)
    frozen = tomllib.loads(run.run_toml.read_text(encoding="utf-8"))
    assert "accelerate_config" not in frozen["job"]
    assert worker_command(run, frozen) == [sys.executable, "-m", WORKER_MODULE, str(run.path.resolve())]


@pytest.mark.parametrize(("text", "said"), [
    (None, r"names .*missing\.yaml, which does not exist; run `accelerate config --config_file"),
    ("num_processes: [2\n", r"is not valid YAML at line 2, column 1; fix that line"),
    ("- just\n- a list\n", r"does not hold an accelerate config \(a YAML mapping of settings\)"),
    ("num_processes: two\n", r"num_processes is 'two'; it must be a whole number of at least 1"),
    ("num_machines: 2\nnum_processes: 4\n", r"spans 2 machines but names no main_process_ip"),
    ("num_machines: 2\nnum_processes: 4\nmachine_rank: 1\nmain_process_ip: h\n", r"says machine_rank 1"),
    ("num_machines: 2\nnum_processes: 3\nmain_process_ip: h\n", r"make it a multiple of num_machines"),
])
def test_a_file_that_is_not_a_usable_accelerate_config_is_one_sentence(tmp_path: Path, text, said) -> None:
    root = _project(tmp_path, accelerate="missing.yaml" if text is None else "accelerate.yaml",
                    yaml_text=text or ONE_MACHINE)
    config, _ = base_config(root)
    with pytest.raises(UserError, match=said) as caught:
        job_config(root, config)
    assert "Traceback" not in str(caught.value) and str(caught.value).endswith((".", ")"))
    assert not list((root / "runs").glob("*/run.toml"))  # nothing was queued


def test_a_relative_path_leading_out_of_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text(ONE_MACHINE, encoding="utf-8")
    root = _project(tmp_path, accelerate="../outside.yaml")
    config, _ = base_config(root)
    with pytest.raises(UserError, match=r"\[accelerate\] config '../outside.yaml' leads outside"):
        job_config(root, config)
    # Named absolutely, it is the user's choice.
    config["accelerate"] = {"config": str(tmp_path / "outside.yaml")}
    assert job_config(root, config)["job"]["accelerate_config"] == str((tmp_path / "outside.yaml").resolve())


def test_num_processes_that_disagree_with_the_file_are_refused(tmp_path: Path) -> None:
    root = _project(tmp_path)
    config, _ = base_config(root)
    config["train"]["num_processes"] = 4
    with pytest.raises(UserError, match=r"num_processes is 4 but accelerate.yaml launches 2"):
        job_config(root, config)
    config["train"]["num_processes"] = 2
    assert job_config(root, config)["job"]["accelerate_config"]


def test_a_file_gone_before_the_run_starts_fails_it_with_the_sentence(tmp_path: Path) -> None:
    root = _project(tmp_path)
    run = _run(root)
    (root / "accelerate.yaml").unlink()
    assert start_next(root / "runs") is None  # the queue goes on past it
    assert run.state() is RunState.FAILED
    assert "does not exist; run `accelerate config --config_file" in run.read_status()["message"]
    assert not run.log_path.exists()  # no process was started
    with pytest.raises(UserError, match="does not exist"):
        launch(run)


def test_resume_with_the_file_gone_says_so_and_leaves_the_run_as_it_was(tmp_path: Path) -> None:
    root = _project(tmp_path)
    run = _run(root)
    run.write_status(state=RunState.STOPPED, message="Stopped at step 4")
    (root / "accelerate.yaml").unlink()
    with pytest.raises(UserError, match="accelerate_config names .* which does not exist"):
        control.resume(run)
    assert run.state() is RunState.STOPPED


def test_the_train_command_takes_the_file_on_its_command_line(tmp_path: Path, monkeypatch) -> None:
    from tuitune.cli import main

    root = _project(tmp_path, accelerate=None)
    monkeypatch.chdir(tmp_path)
    code = main(["train", str(root), "--accelerate-config", "nowhere.yaml", "--detach"])
    assert code == 2
    assert not list((root / "runs").glob("*/run.toml"))


def test_a_two_machine_run_says_what_the_other_machine_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    import tuitune.jobs.queue
    from tuitune.cli import main

    root = _project(tmp_path, accelerate="cluster.yaml")
    (root / "cluster.yaml").write_text(TWO_MACHINES, encoding="utf-8")
    made = []
    monkeypatch.setattr(tuitune.jobs.queue, "submit",  # queued, not started: no machine 10.0.0.1 here
                        lambda runs, kind, tables: made.append(create_run(runs, kind, tables)) or made[-1])
    assert main(["train", str(root), "--detach"]) == 0
    out = capsys.readouterr().out
    assert "This run spans 2 machines" in out and "machine_rank 1 to 1" in out
    assert f"--config_file THAT_MACHINES.yaml -m {WORKER_MODULE} {made[0].path.resolve()}" in out
