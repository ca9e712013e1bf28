"""The ``train`` job: load the run's frozen TrainConfig and run the region-aware training loop on it."""

from __future__ import annotations

from tuitune.jobs.context import JobContext

# The training loop writes status.json at every step itself.
WRITES_OWN_STATUS = True


def run(ctx: JobContext) -> None:
    from tuitune.train.config import TrainConfig
    from tuitune.train.loop import train

    config = TrainConfig.from_dict(ctx.job_config(), base_dir=ctx.run.path)
    outcome = train(config, ctx.run, resume=ctx.resume)
    ctx.stopped = outcome.state == "stopped"
