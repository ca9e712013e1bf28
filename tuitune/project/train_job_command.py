"""``tuitune train PROJECT``: queue a training run of a project exactly as the app's Train screen does."""

from __future__ import annotations

import argparse
from pathlib import Path

from tuitune.errors import UserError


def train_project(args: argparse.Namespace) -> int:
    from tuitune.intent.project_link import load_spec
    from tuitune.jobs.queue import submit
    from tuitune.project.project import Project
    from tuitune.project.train_run import base_config, job_config

    root = Path(args.config).expanduser().resolve()
    if args.resume or args.run_dir:
        raise UserError("--resume and --run-dir are for config files; a project's runs resume with "
                        "`tuitune resume RUN --project PROJECT`.")
    from tuitune.data.dataset import Dataset
    from tuitune.project.settings import SETTINGS_FILE, load_settings

    load_settings(root / SETTINGS_FILE)  # a damaged project.toml stops here, in its own sentence
    config, warning = base_config(root)
    if warning:
        raise UserError(warning.replace("the defaults are used instead", "fix it and try again"))
    if args.steps is not None:
        if args.steps < 1:
            raise UserError("--steps must be at least 1.")
        config.setdefault("train", {})["steps"] = args.steps
    if args.device is not None:
        config.setdefault("train", {})["device"] = args.device
    with Project.open(root, readonly=True) as project:
        spec = load_spec(project)
    # The job exports dataset.json when it starts: a damaged one stops the command now, before a run is queued.
    Dataset(root).items()
    if spec is None:
        print("No intent yet: training without masks weighting (`tuitune intent ... --project` adds one).")
    try:
        tables = job_config(root, config, spec, spec_version=spec.version if spec else None)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    run = submit(root / "runs", "train", tables)
    print(f"{run.name}: {run.state()}; `tuitune attach {run.name} --project {args.config}` follows it.")
    if args.detach:
        return 0
    from tuitune.jobs.attach import attach

    print(f"{run.name}: {attach(run)}")
    return 0
