"""CLI for runs: ``tuitune runs``, ``attach``, ``stop``, ``pause``, ``resume``, ``sample``, ``count``."""

from __future__ import annotations

import argparse

from tuitune.cli.lazy import lazy


def _run_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run folder, or run name in the current project")
    parser.add_argument("--project", default=None, help="project folder (default: the one around here)")


def register(subparsers: argparse._SubParsersAction) -> None:
    runs = subparsers.add_parser(
        "runs", help="list the project's runs and their state",
        description="List every run of the project (training, detection, evaluation, generation) with its kind, "
                    "state, step and last loss, and where a stopped or crashed one resumes from.")
    runs.add_argument("--project", default=None, help="project folder (default: the one around here)")
    runs.set_defaults(handler=lazy("tuitune.jobs.handlers:list_command"))

    attach = subparsers.add_parser("attach", help="follow a run live (Ctrl-C detaches, the run goes on)")
    _run_arg(attach)
    attach.set_defaults(handler=lazy("tuitune.jobs.handlers:attach_command"))

    stop = subparsers.add_parser("stop", help="checkpoint a run, then stop it")
    _run_arg(stop)
    stop.add_argument("--wait", action="store_true", help="wait until the run has stopped")
    stop.set_defaults(handler=lazy("tuitune.jobs.handlers:stop_command"))

    pause = subparsers.add_parser("pause", help="pause a run (resume continues it)")
    _run_arg(pause)
    pause.set_defaults(handler=lazy("tuitune.jobs.handlers:pause_command"))

    resume = subparsers.add_parser("resume", help="continue a paused run, or restart one from its checkpoint")
    _run_arg(resume)
    resume.set_defaults(handler=lazy("tuitune.jobs.handlers:resume_command"))

    sample = subparsers.add_parser("sample", help="ask a running run for samples now")
    _run_arg(sample)
    sample.set_defaults(handler=lazy("tuitune.jobs.handlers:sample_command"))

    count = subparsers.add_parser("count", help="queue a cheap CPU job that exercises the runner")
    count.add_argument("--project", default=None, help="project folder (default: the one around here)")
    count.add_argument("--steps", type=int, default=100)
    count.add_argument("--step-seconds", type=float, default=0.05)
    count.add_argument("--checkpoint-every", type=int, default=10)
    count.add_argument("--name", default=None, help="run name (default: count-DATE-TIME)")
    count.set_defaults(handler=lazy("tuitune.jobs.handlers:count_command"))
