"""The ``train`` job: load the run's frozen TrainConfig, prepare its data, and run the region-aware loop on it."""

from __future__ import annotations

from tuitune.jobs.context import JobContext


def run(ctx: JobContext) -> None:
    from tuitune.train.config import TrainConfig
    from tuitune.train.loop import run_training

    tables = ctx.job_config()
    dataset = tables.pop("dataset", None)  # a project's run: its data is exported into the run folder
    config = TrainConfig.from_dict(tables, base_dir=ctx.run.path)
    if dataset is not None:
        from tuitune.train.project_run import prepare_data

        ctx.write_status(message="preparing the training data")
        ctx.event("data", message=prepare_data(ctx.run.path, dataset))
    outcome = run_training(ctx, config)
    # A stop asked for at the last step still finishes the run: the loop says which it was.
    ctx.stopped = outcome.state == "stopped"
