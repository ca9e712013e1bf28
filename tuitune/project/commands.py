"""CLI for projects: ``tuitune new NAME``, ``tuitune open NAME``, ``tuitune info``."""

from __future__ import annotations

import argparse

from tuitune.lazy import lazy


def register(subparsers: argparse._SubParsersAction) -> None:
    new = subparsers.add_parser("new", help="make a new project folder")
    new.add_argument("path", metavar="NAME", help="folder to create (its name is the project name)")
    new.add_argument(
        "--base-model", default=None, help="diffusers folder, .safetensors file, hub id or 'toyworld'"
    )
    new.add_argument("--parser", choices=["rules", "ollama", "transformers"], default=None,
                     help="how intents are turned into a spec")  # fmt: skip
    new.set_defaults(handler=lazy("tuitune.project.handlers:new_command"))

    open_ = subparsers.add_parser(
        "open", help="open a project in the app (a sample project is made on first open)"
    )
    open_.add_argument("path", metavar="NAME", help="project folder")
    open_.add_argument("--readonly", action="store_true", help="look without writing")
    open_.add_argument(
        "--copy-to", metavar="DIR", default=None,
        help="for a sample project: where your copy is made (default ~/tuitune/NAME)",
    )
    open_.set_defaults(handler=lazy("tuitune.project.handlers:open_command"))

    info = subparsers.add_parser("info", help="print a project's summary")
    info.add_argument("path", metavar="NAME", nargs="?", default=None, help="project folder (default: here)")
    info.set_defaults(handler=lazy("tuitune.project.handlers:info_command"))
