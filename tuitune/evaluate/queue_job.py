"""Queue an ``evaluate`` job for a training run (``tuitune eval --detach`` and the Train screen's e key).

``evaluation_settings`` is the one way both front doors fill in what the user left out, so the same run and
options queue the same ``[evaluate]`` table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.jobs.rundir import RunDir

EVAL_FILE = "eval.jsonl"  # where evaluate_run appends its rows, inside the training run's folder


BACKENDS = ("detector", "segmenter", "embedder")


def evaluation_settings(run_path: Path, chosen: dict[str, Any] | None = None) -> dict[str, Any]:
    """EvalSettings fields for evaluating ``run_path``: what the user chose, and for a run of a project
    (``PROJECT/runs/NAME``) the project's ``[vision]`` backends where they named none, as detection uses:
    without them most metrics would be n/a. A damaged project.toml raises UserError."""
    from tuitune.project.project import is_project
    from tuitune.project.settings import SETTINGS_FILE, load_settings

    values = dict(chosen or {})
    root = Path(run_path).expanduser().resolve().parents[1]
    if is_project(root):
        vision = load_settings(root / SETTINGS_FILE).vision
        for key in BACKENDS:
            if values.get(key) is None:
                values[key] = getattr(vision, key)
    return values


def check_evaluable(run: RunDir) -> None:
    """Refuse, in one sentence, a folder that is not a training run or has nothing to evaluate yet."""
    if not run.run_toml.is_file():
        raise UserError(f"{run.path} is not a run folder (no run.toml); give the folder of a training run.")
    config = run.config()
    # A run.toml without [job] kind is a hand-made training run folder; any other kind is a job of its own.
    kind = config.get("job", {}).get("kind", "train")
    if kind != "train":
        raise UserError(f"{run.name} is not a training run (its job is {kind!r}); select a training run to evaluate.")
    if not run.checkpoint_steps() and not run.lora_path.is_file():
        raise UserError(f"{run.name} has no checkpoint yet; evaluate once training has saved one.")


def queue_evaluation(run_path: Path, settings: dict[str, Any] | None = None) -> RunDir:
    """Queue a job that evaluates ``run_path`` (beside it, in the same runs folder) and start it if the GPU is
    free; its rows go to ``run_path/eval.jsonl``. ``settings`` are EvalSettings fields for run.toml."""
    from tuitune.jobs.queue import submit

    run = RunDir(Path(run_path).resolve())
    check_evaluable(run)
    pending = pending_evaluation(run)
    if pending is not None:
        raise UserError(f"{pending.name} is already evaluating {run.name} ({pending.state()}); wait for it to "
                        "finish, or stop it first.")
    config = {"evaluate": {"run": str(run.path), **(settings or {})}}
    # Queued, not started at once: evaluation draws with the model, so it waits for a training run that
    # holds the GPU, like every other GPU job in that folder.
    return submit(run.path.parent, "evaluate", config, name=f"{run.name}-eval-{time.strftime('%Y%m%d-%H%M%S')}")


def pending_evaluation(run: RunDir) -> RunDir | None:
    """An evaluate job of ``run`` that is queued or running (two would append the same rows twice)."""
    for folder in sorted(run.path.parent.glob(f"{run.name}-eval-*")):
        job = RunDir(folder)
        try:
            config = job.config()
        except UserError:
            continue
        if Path(config.get("evaluate", {}).get("run", "")) == run.path and not job.state().is_final:
            return job
    return None
