"""Worker entry point: ``python -m tuitune.jobs.worker RUN_DIR [--resume]`` runs one job to its end.

Reads ``run.toml``, dispatches ``[job] kind`` to its module's ``run(ctx)``, turns every way of ending into a
final state with one sentence of reason, then starts the next queued run of the same runs folder.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType, ModuleType

from tuitune.jobs.context import JobContext
from tuitune.jobs.relocate import rebase_moved_run
from tuitune.jobs.rundir import RunDir, RunState
from tuitune.jobs.write_failure import write_failure

# Job kinds and the module whose ``run(ctx)`` does the work.
# A kind may name several modules: the first that exists and has ``run`` is used.
KINDS: dict[str, str | tuple[str, ...]] = {
    "train": "tuitune.train.job",  # tuitune.train.worker's run() takes a path, not a JobContext
    "detect": "tuitune.data.detect_job",
    "generate": "tuitune.generate.job",
    "evaluate": "tuitune.evaluate.job",
    "fix": "tuitune.fix.job",
    "count": "tuitune.jobs.count_job",
}


def explain_os_error(exc: OSError, ctx: JobContext) -> str:
    """One sentence for a failed write, naming the file and what to do next."""
    parts = []
    if ctx.writing_checkpoint is not None:
        parts.append(f"checkpoint step {ctx.writing_checkpoint}")
    if exc.filename:
        parts.append(Path(exc.filename).name)
    where = f" while writing {' '.join(parts)}" if parts else ""
    steps = ctx.run.checkpoint_steps()
    then = (
        f"then `tuitune resume {ctx.run.name}` continues from step {steps[-1]} (the last intact checkpoint)"
        if steps
        else f"then `tuitune resume {ctx.run.name}` starts it again"
    )
    if exc.errno == errno.ENOSPC:
        return f"The disk is full{where}; free some space, {then}."
    if exc.errno == errno.EFBIG:
        return f"A file grew past the allowed size{where}; raise the file-size limit (ulimit -f), {then}."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Permission denied{where}; make the run folder writable, {then}."
    if exc.errno is None:  # torch's zip writer does not say why
        return f"A file write failed{where} (disk full? file-size limit?); free space or raise ulimit -f, {then}."
    return f"{exc.strerror or exc}{where}; fix that, {then}."


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
    # A job that writes status.json itself (the training loop) would race a second writer in this process.
    if not getattr(module, "WRITES_OWN_STATUS", False):
        ctx.start_heartbeat()
    try:
        module.run(ctx)
    except UserError as exc:
        return RunState.FAILED, str(exc)
    except OSError as exc:
        traceback.print_exc()
        ctx.clean_partial_checkpoints()
        return RunState.FAILED, explain_os_error(exc, ctx)
    except MemoryError:
        return RunState.FAILED, "Out of memory; lower the batch size or resolution, then resume."
    except Exception as exc:
        wrapped = write_failure(exc)
        if wrapped is not None:  # safetensors' "(os error 28)", torch's "[enforce fail at ...]"
            traceback.print_exc()
            ctx.clean_partial_checkpoints()
            return RunState.FAILED, explain_os_error(wrapped, ctx)
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

    def on_term(signum: int, frame: FrameType | None) -> None:
        if ctx.stop_signalled:  # asked twice: stop now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        ctx.stop_signalled = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal that started us may go away

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
    ctx.event("started", pid=os.getpid(), resume=args.resume, rank=ctx.rank)
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
