"""The ``tuitune`` command: argparse front door that imports each command group's module lazily.

The command line lives here and only here: ``tuitune/cli/<group>.py`` (jobs, project, train, ...) each has
``register(subparsers)`` and the handlers that turn parsed options into calls of typed engine functions. Those
modules import only argparse, a few standard-library modules and ``tuitune.errors`` at module level; the engine
is imported inside each handler, so ``tuitune --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from tuitune.errors import UserError  # noqa: F401  (the CLI prints it; older imports name it here)

# The command groups; a missing module is skipped so a partial checkout still runs.
AREAS = (
    "tuitune.cli.ui",
    "tuitune.cli.train",
    "tuitune.cli.jobs",
    "tuitune.cli.project",
    "tuitune.cli.toyworld",
    "tuitune.cli.intent",
    "tuitune.cli.data",
    "tuitune.cli.evaluate",
    "tuitune.cli.generate",
    "tuitune.cli.fix",
    "tuitune.cli.vision",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuitune",
        description="Intent-driven, region-aware LoRA fine-tuning for Stable Diffusion, in the terminal.",
    )
    from tuitune import __version__

    parser.add_argument("--version", action="version", version=f"tuitune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in AREAS:
        try:
            module = importlib.import_module(area)
        except ModuleNotFoundError as exc:
            if exc.name == area:
                continue
            raise
        module.register(sub)
        # The UI area may name what a bare ``tuitune`` does (open the app).
        if getattr(module, "DEFAULT_HANDLER", None) is not None:
            parser.set_defaults(handler=module.DEFAULT_HANDLER)
    describe(parser)
    return parser


def describe(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand without a description its one-line help as one, so ``tuitune CMD --help`` says
    what CMD does (argparse shows the help line only in the parent's list)."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, sub in action.choices.items():
            text = helps.get(name)
            if not sub.description and text:
                sub.description = text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
            describe(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return int(handler(args) or 0)
    except UserError as exc:
        print(f"tuitune: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

