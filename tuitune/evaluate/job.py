"""The ``evaluate`` job: run.toml ``[evaluate]`` names a training run; results land in that run's eval.jsonl."""

from __future__ import annotations

from pathlib import Path

from tuitune import atomic
from tuitune.errors import UserError
from tuitune.evaluate.report import format_rows
from tuitune.evaluate.runner import EvalSettings, evaluate_run
from tuitune.jobs.context import JobContext


def run(ctx: JobContext) -> None:
    section = dict(ctx.job_config().get("evaluate", {}))
    target = section.pop("run", None)
    if not target:
        raise UserError("run.toml [evaluate] needs run = the training run folder to evaluate.")
    try:
        settings = EvalSettings.model_validate(section)
    except ValueError as exc:
        raise UserError(f"run.toml [evaluate] is invalid ({str(exc).splitlines()[0]}); fix that key.") from None
    ctx.started(total_steps=0)

    def progress(label: str, index: int, total: int) -> None:
        ctx.progress(index, total_steps=total, message=f"evaluating {label}")
        ctx.event("evaluate", checkpoint=label)

    def should_stop() -> bool:
        if ctx.poll() is not None and ctx.stopped:
            return True
        return ctx.stopped

    rows, pick = evaluate_run(Path(target), settings, progress=progress, should_stop=should_stop)
    text = format_rows(rows, pick)
    atomic.write_text(ctx.run.path / "report.txt", text + "\n")
    ctx.progress(len(rows), message=pick.reason if pick else "no checkpoint could be recommended")
    if pick is not None:
        ctx.event("recommended", checkpoint=pick.checkpoint, score=pick.score, reason=pick.reason)
