"""The ``train`` job: load the run's frozen TrainConfig, prepare its data, and run the region-aware loop on it."""

from __future__ import annotations

from tuitune.jobs.context import JobContext

# The training loop writes status.json itself (its step progress paced, state changes at once).
WRITES_OWN_STATUS = True


def run(ctx: JobContext) -> None:
    from tuitune.train.config import TrainConfig
    from tuitune.train.loop import train

    tables = ctx.job_config()
    dataset = tables.pop("dataset", None)  # a project's run: its data is exported into the run folder
    config = TrainConfig.from_dict(tables, base_dir=ctx.run.path)
    if dataset is not None:
        from tuitune.train.project_run import prepare_data

        ctx.write_status(message="preparing the training data")
        ctx.event("data", message=prepare_data(ctx.run.path, dataset))
    # A stop asked for while torch was importing reached only the worker's handler: hand it on.
    outcome = train(config, ctx.run, resume=ctx.resume, stop_early=lambda: ctx.stop_signalled)
    ctx.stopped = outcome.state == "stopped"
