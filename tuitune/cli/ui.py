"""CLI twins of the app: a bare ``tuitune`` opens the app, ``tuitune show`` prints images in the terminal."""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType


def _ui(module: str) -> ModuleType:
    # ui and cli are separate front doors (independent layers), so the CLI reaches the app's code by name.
    return importlib.import_module(f"tuitune.ui.{module}")


def open_here(args: argparse.Namespace) -> int:
    return int(_ui("launch").open_app())


# What a bare ``tuitune`` does: open the project in the current folder, else the open/new screen.
DEFAULT_HANDLER = open_here


def register(subparsers: argparse._SubParsersAction) -> None:
    show = subparsers.add_parser("show", help="print images in the terminal (no app needed)")
    show.add_argument("images", nargs="+", metavar="IMAGE", help="image files to print")
    show.add_argument("--width", type=int, default=None, help="width in columns (default: fit the terminal)")
    show.set_defaults(handler=show_command)

    app = subparsers.add_parser(
        "app", help="open the terminal app on an existing project folder (`open` also makes sample projects)",
        description="Open the terminal app on a project folder, or on the open/new screen when the folder is "
                    "not a project. `tuitune open NAME` does the same and makes a sample project on first open.")
    app.add_argument("path", nargs="?", default=None, help="project folder (default: the current folder)")
    app.add_argument("--readonly", action="store_true", help="look without writing (no lock taken)")
    app.set_defaults(handler=app_command)


def show_command(args: argparse.Namespace) -> int:
    return int(_ui("show").show_images(args.images, width=args.width))


def app_command(args: argparse.Namespace) -> int:
    return int(_ui("launch").open_app(args.path, readonly=args.readonly))
