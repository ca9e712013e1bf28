"""CLI for runs: ``tuitune runs``, ``attach``, ``stop``, ``pause``, ``resume``, ``sample``, ``count``.

Each handler resolves the run, calls the jobs API and prints one result.
"""

from __future__ import annotations

import argparse


def _run_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run folder, or run name in the current project")
    parser.add_argument("--project", default=None, help="project folder (default: the one around here)")


def register(subparsers: argparse._SubParsersAction) -> None:
    runs = subparsers.add_parser(
        "runs", help="list the project's runs and their state",
        description="List every run of the project (training, detection, evaluation, generation) with its kind, "
                    "state, step and last loss, and where a stopped or crashed one resumes from.")
    runs.add_argument("--project", default=None, help="project folder (default: the one around here)")
    runs.set_defaults(handler=list_command)

    attach = subparsers.add_parser("attach", help="follow a run live (Ctrl-C detaches, the run goes on)")
    _run_arg(attach)
    attach.set_defaults(handler=attach_command)

    stop = subparsers.add_parser("stop", help="checkpoint a run, then stop it")
    _run_arg(stop)
    stop.add_argument("--wait", action="store_true", help="wait until the run has stopped")
    stop.set_defaults(handler=stop_command)

    pause = subparsers.add_parser("pause", help="pause a run (resume continues it)")
    _run_arg(pause)
    pause.set_defaults(handler=pause_command)

    resume = subparsers.add_parser("resume", help="continue a paused run, or restart one from its checkpoint")
    _run_arg(resume)
    resume.set_defaults(handler=resume_command)

    sample = subparsers.add_parser("sample", help="ask a running run for samples now")
    _run_arg(sample)
    sample.set_defaults(handler=sample_command)

    count = subparsers.add_parser("count", help="queue a cheap CPU job that exercises the runner")
    count.add_argument("--project", default=None, help="project folder (default: the one around here)")
    count.add_argument("--steps", type=int, default=100)
    count.add_argument("--step-seconds", type=float, default=0.05)
    count.add_argument("--checkpoint-every", type=int, default=10)
    count.add_argument("--name", default=None, help="run name (default: count-DATE-TIME)")
    count.set_defaults(handler=count_command)


def list_command(args: argparse.Namespace) -> int:
    from tuitune.jobs.listing import list_runs
    from tuitune.jobs.resolve import runs_root

    root = runs_root(args.project)
    summaries = list_runs(root)
    if not summaries:
        print(f"No runs yet in {root}.")
        return 0
    width = max(len(s.name) for s in summaries)
    for summary in summaries:
        print(f"{summary.name:<{width}}  {summary.kind:<8}  {summary.describe()}")
    return 0


def attach_command(args: argparse.Namespace) -> int:
    from tuitune.jobs.attach import attach
    from tuitune.jobs.resolve import resolve_run

    run = resolve_run(args.run, args.project)
    state = attach(run)
    print(f"{run.name}: {state}")
    return 0


def stop_command(args: argparse.Namespace) -> int:
    from tuitune.jobs import control
    from tuitune.jobs.resolve import resolve_run

    run = resolve_run(args.run, args.project)
    state = control.stop(run, wait=600.0 if args.wait else 0.0)
    print(f"{run.name}: {state}")
    return 0


def pause_command(args: argparse.Namespace) -> int:
    from tuitune.jobs import control
    from tuitune.jobs.attach import run_reference
    from tuitune.jobs.resolve import resolve_run

    run = resolve_run(args.run, args.project)
    control.pause(run)
    print(f"{run.name}: pause requested; `tuitune resume {run_reference(run)}` continues it.")
    return 0


def resume_command(args: argparse.Namespace) -> int:
    from tuitune.jobs import control
    from tuitune.jobs.resolve import resolve_run

    print(control.resume(resolve_run(args.run, args.project)))
    return 0


def sample_command(args: argparse.Namespace) -> int:
    from tuitune.jobs import control
    from tuitune.jobs.resolve import resolve_run

    run = resolve_run(args.run, args.project)
    control.sample_now(run)
    print(f"{run.name}: samples requested; they appear under {run.samples_dir}.")
    return 0


def count_command(args: argparse.Namespace) -> int:
    from tuitune.jobs.attach import run_reference
    from tuitune.jobs.queue import submit
    from tuitune.jobs.resolve import runs_root

    config = {
        "count": {
            "steps": args.steps,
            "step_seconds": args.step_seconds,
            "checkpoint_every": args.checkpoint_every,
        }
    }
    run = submit(runs_root(args.project), "count", config, name=args.name)
    print(f"{run.name}: {run.state()}; `tuitune attach {run_reference(run)}` follows it.")
    return 0
