"""The run commands' bodies: each resolves the run, calls the jobs API and prints one result."""

from __future__ import annotations

import argparse

from tuitune.jobs import control
from tuitune.jobs.attach import run_reference
from tuitune.jobs.resolve import resolve_run, runs_root


def list_command(args: argparse.Namespace) -> int:
    from tuitune.jobs.listing import list_runs

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

    run = resolve_run(args.run, args.project)
    state = attach(run)
    print(f"{run.name}: {state}")
    return 0


def stop_command(args: argparse.Namespace) -> int:
    run = resolve_run(args.run, args.project)
    state = control.stop(run, wait=600.0 if args.wait else 0.0)
    print(f"{run.name}: {state}")
    return 0


def pause_command(args: argparse.Namespace) -> int:
    run = resolve_run(args.run, args.project)
    control.pause(run)
    print(f"{run.name}: pause requested; `tuitune resume {run_reference(run)}` continues it.")
    return 0


def resume_command(args: argparse.Namespace) -> int:
    print(control.resume(resolve_run(args.run, args.project)))
    return 0


def sample_command(args: argparse.Namespace) -> int:
    run = resolve_run(args.run, args.project)
    control.sample_now(run)
    print(f"{run.name}: samples requested; they appear under {run.samples_dir}.")
    return 0


def count_command(args: argparse.Namespace) -> int:
    from tuitune.jobs.queue import submit

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
