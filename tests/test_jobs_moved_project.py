"""A project's train run stopped early (a SIGTERM during start-up) resumes after the project folder moved."""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from tuitune.jobs.relocate import rebase_paths


def test_rebase_moves_only_paths_inside_the_old_project() -> None:
    config = {"model": {"base": "/old/p/models/sd"}, "data": {"folder": "data"},
              "other": ["/old/p", "/old/pp/x", "/elsewhere/sd"], "n": 3}
    moved = rebase_paths(config, Path("/old/p"), Path("/new/q"))
    assert moved == {"model": {"base": "/new/q/models/sd"}, "data": {"folder": "data"},
                     "other": ["/new/q", "/old/pp/x", "/elsewhere/sd"], "n": 3}


@pytest.mark.slow
def test_early_stop_then_resume_after_the_project_moved(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_pipelines import build_sd1

    from tuitune.cli.sample import make_sample
    from tuitune.intent.project_link import load_spec
    from tuitune.jobs import worker
    from tuitune.jobs.context import JobContext
    from tuitune.jobs.queue import create_run
    from tuitune.jobs.rundir import RunDir, RunState
    from tuitune.train.project_run import base_config, job_config

    old = tmp_path / "old" / "toyworld-watermark"
    with make_sample(old) as project:
        spec = load_spec(project)
    build_sd1(old / "models" / "sd1")
    config, _ = base_config(old)
    config["model"]["base"] = "models/sd1"
    config["data"]["resolution"] = 32
    config["train"].update({"steps": 3, "batch_size": 2, "device": "cpu"})
    config["samples"] = {"every": 0}
    config["checkpoints"] = {"every": 0}
    tables = job_config(old, config, spec, spec_version=spec.version)
    # Detection never ran here: the delete concept has no mask, which a run refuses; this test is about moving.
    tables["loss"]["concepts"].pop("watermark")
    assert tables["model"]["base"] == "../../models/sd1"
    # Runs made before paths were stored relative still name absolute ones: the worker rebases those.
    tables["model"]["base"] = str(old.resolve() / "models" / "sd1")
    run = create_run(old / "runs", "train", tables)

    # SIGTERM arrived while torch was importing: the worker's flag is set before the loop polls; the run stops.
    ctx = JobContext(run=run, stop_signalled=True)
    ctx.begin()
    state, message = worker.run_job(ctx, "train")
    ctx.end(state, message)
    assert state is RunState.STOPPED and run.read_status()["state"] == "stopped"
    assert run.checkpoint_steps() == [1] and not run.lora_path.exists()

    new = tmp_path / "new" / "toyworld-watermark"
    new.parent.mkdir()
    shutil.move(old, new)
    shutil.rmtree(tmp_path / "old")
    moved = RunDir(new / "runs" / run.name)
    assert worker.main([str(moved.path), "--resume"]) == 0
    status = moved.read_status()
    assert status["state"] == "finished" and status["step"] == 3
    assert moved.lora_path.is_file()
    kinds = [e["kind"] for e in moved.read_events()]
    assert "moved" in kinds
    frozen = tomllib.loads(moved.run_toml.read_text(encoding="utf-8"))
    assert frozen["model"]["base"] == str(new.resolve() / "models" / "sd1")
