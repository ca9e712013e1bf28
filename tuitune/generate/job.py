"""The ``generate`` job: run.toml ``[generate]`` is a GenerateRequest; images go to its output folder."""

from __future__ import annotations

from tuitune.errors import UserError
from tuitune.generate.batch import GenerateRequest, generate_batch
from tuitune.generate.request import in_run
from tuitune.jobs.context import JobContext


def run(ctx: JobContext) -> None:
    try:
        request = GenerateRequest.model_validate(ctx.job_config().get("generate", {}))
    except ValueError as exc:
        raise UserError(f"run.toml [generate] is invalid ({str(exc).splitlines()[0]}); fix that key.") from None
    request = in_run(ctx.run.path, request)  # a project's paths are written relative to the run folder
    total = len(request.prompts) * len(request.seeds)
    ctx.started(total_steps=total)

    def progress(done: int, of: int) -> None:
        ctx.progress(done)

    records = generate_batch(request, progress=progress, should_stop=lambda: ctx.poll() is not None and ctx.stopped)
    for record in records:
        ctx.event("generation", id=record.id, images=record.images)
