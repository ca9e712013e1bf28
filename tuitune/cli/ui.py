"""CLI twins of the app: a bare ``tuitune`` opens the app, ``tuitune show`` prints images in the terminal."""

from __future__ import annotations

import argparse

from tuitune.cli.lazy import lazy

# What a bare ``tuitune`` does: open the project in the current folder, else the open/new screen.
DEFAULT_HANDLER = lazy("tuitune.ui.launch:open_here")


def register(subparsers: argparse._SubParsersAction) -> None:
    show = subparsers.add_parser("show", help="print images in the terminal (no app needed)")
    show.add_argument("images", nargs="+", metavar="IMAGE", help="image files to print")
    show.add_argument("--width", type=int, default=None, help="width in columns (default: fit the terminal)")
    show.set_defaults(handler=lazy("tuitune.ui.show:show_images"))

    app = subparsers.add_parser(
        "app", help="open the terminal app on an existing project folder (`open` also makes sample projects)",
        description="Open the terminal app on a project folder, or on the open/new screen when the folder is "
                    "not a project. `tuitune open NAME` does the same and makes a sample project on first open.")
    app.add_argument("path", nargs="?", default=None, help="project folder (default: the current folder)")
    app.add_argument("--readonly", action="store_true", help="look without writing (no lock taken)")
    app.set_defaults(handler=lazy("tuitune.ui.launch:open_from_args"))
