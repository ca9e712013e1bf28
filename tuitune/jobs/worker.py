"""Worker entry point: ``python -m tuitune.jobs.worker RUN_DIR [--resume]`` runs one job to its end.

The one worker every job runs in: the job runner starts it, ``accelerate launch`` starts it on every process (and
machine) of a training run, and so does ``tuitune train CONFIG --accelerate-config FILE``. Reads ``run.toml``,
dispatches ``[job] kind`` to its module's ``run(ctx)``, turns every way of ending into a final state with one
sentence of reason, then starts the next queued run of the same runs folder.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from types import ModuleType

from tuitune.jobs.context import JobContext
from tuitune.jobs.relocate import rebase_moved_run
from tuitune.jobs.rundir import RunDir, RunState
from tuitune.jobs.stop_signals import stop_signals
from tuitune.jobs.write_failure import explain, write_failure

# Job kinds and the module whose ``run(ctx)`` does the work.
# A kind may name several modules: the first that exists and has ``run`` is used.
KINDS: dict[str, str | tuple[str, ...]] = {
    "train": "tuitune.train.job",
    "detect": "tuitune.data.detect_job",
    "generate": "tuitune.generate.job",
    "evaluate": "tuitune.evaluate.job",
    "fix": "tuitune.fix.job",
    "count": "tuitune.jobs.count_job",
}


def run_job(ctx: JobContext, kind: str) -> tuple[RunState, str]:
    """Run the job and return its final state and the reason to show."""
    from tuitune.errors import UserError

    candidates = KINDS.get(kind)
    if candidates is None:
        return (
            RunState.FAILED,
            f"Unknown job kind {kind!r} in run.toml; use one of {', '.join(sorted(KINDS))}.",
        )
    module = _job_module((candidates,) if isinstance(candidates, str) else candidates)
    if module is None:
        return RunState.FAILED, f"This tuitune cannot run {kind!r} jobs yet (no job module is installed)."
    ctx.start_heartbeat()
    try:
        module.run(ctx)
    except UserError as exc:
        return RunState.FAILED, str(exc)
    except OSError as exc:
        traceback.print_exc()
        ctx.clean_partial_checkpoints()
        return RunState.FAILED, explain(exc, ctx.run, ctx.writing_checkpoint)
    except MemoryError:
        return RunState.FAILED, "Out of memory; lower the batch size or resolution, then resume."
    except Exception as exc:
        wrapped = write_failure(exc)
        if wrapped is not None:  # safetensors' "(os error 28)", torch's "[enforce fail at ...]"
            traceback.print_exc()
            ctx.clean_partial_checkpoints()
            return RunState.FAILED, explain(wrapped, ctx.run, ctx.writing_checkpoint)
        # a bug: the traceback goes to worker.log, the reason to status.json
        traceback.print_exc()
        return RunState.FAILED, f"The job stopped on an error ({type(exc).__name__}: {exc}); see worker.log."
    if ctx.stopped:
        steps = ctx.run.checkpoint_steps()
        where = f" at step {steps[-1]}" if steps else ""
        return RunState.STOPPED, f"Stopped{where}; `tuitune resume {ctx.run.name}` continues."
    return RunState.FINISHED, "finished"


def _job_module(names: tuple[str, ...]) -> ModuleType | None:
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        if hasattr(module, "run"):
            return module
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitune.jobs.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the latest complete checkpoint")
    args = parser.parse_args(argv)

    run = RunDir(args.run_dir.resolve())
    ctx = JobContext(
        run=run,
        resume=args.resume,
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
    )
    # A write past RLIMIT_FSIZE should fail as an OSError we can explain, not kill the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal that started us may go away
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with stop_signals(ctx):
        return _run_to_its_end(ctx, args.resume)


def _run_to_its_end(ctx: JobContext, resume: bool) -> int:
    """Claim the run, run its job, record how it ended, start the next queued run; the exit code."""
    run = ctx.run
    try:
        config = ctx.run_config()
        kind = str(config.get("job", {}).get("kind", ""))
        moved = rebase_moved_run(run, config) if ctx.is_main else None
    except (OSError, ValueError) as exc:
        ctx.end(RunState.FAILED, f"run.toml cannot be read ({exc}); recreate the run.")
        return 2
    ctx.begin()
    if moved:
        ctx.event("moved", message=moved)
    ctx.clean_partial_checkpoints()
    ctx.event("started", pid=os.getpid(), resume=resume, rank=ctx.rank)
    state, message = run_job(ctx, kind)
    try:
        ctx.end(state, message)
        ctx.event(str(state), **({"message": message} if message != str(state) else {}))
    except OSError as exc:  # a full disk may refuse even the status; say it on stderr (worker.log)
        print(f"tuitune worker: could not record the final state {state}: {exc}", file=sys.stderr)
    if ctx.is_main:
        from tuitune.jobs.queue import start_next

        try:
            start_next(run.path.parent)
        except Exception:
            traceback.print_exc()
    return 0 if state in (RunState.FINISHED, RunState.STOPPED) else 1


if __name__ == "__main__":
    raise SystemExit(main())
