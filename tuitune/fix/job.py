"""The ``fix`` job: run.toml ``[fix]`` is a FixConfig; the loop writes the LoRA, checkpoints and its report."""

from __future__ import annotations

from tuitune.jobs.context import JobContext


def run(ctx: JobContext) -> None:
    from tuitune.fix.config import FixConfig
    from tuitune.fix.loop import run_fix

    config = FixConfig.from_table(ctx.job_config().get("fix", {}))
    run_fix(config, ctx)
