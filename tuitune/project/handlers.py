"""The project commands' bodies: create, open (app or summary), and print a summary."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from tuitune.cli import UserError
from tuitune.project.project import Project

# Sample projects made on first ``tuitune open``: folder name -> "module:function(project)" that fills it.
SAMPLES = {"toyworld-watermark": "tuitune.toyworld.sample_project:populate"}


def new_command(args: argparse.Namespace) -> int:
    settings = {k: v for k, v in {"base_model": args.base_model}.items() if v is not None}
    if args.parser:
        settings["intent"] = {"parser": args.parser}
    with Project.create(args.path, **settings) as project:
        print(f"Made project {project.name} in {project.root}; `tuitune open {args.path}` opens it.")
    return 0


def create_sample(path: Path) -> Project:
    """Make the sample project named like ``path`` and fill it, when this tuitune can."""
    project = Project.create(path)
    target = SAMPLES[path.name]
    module_name, _, func = target.partition(":")
    try:
        populate = getattr(importlib.import_module(module_name), func)
    except (ModuleNotFoundError, AttributeError):
        project.notes.append("This tuitune cannot fill the sample yet; the project starts empty.")
        return project
    populate(project)
    return project


def open_command(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if not (path / "project.toml").is_file() and path.name in SAMPLES and not args.readonly:
        create_sample(path).close()
    elif not path.exists():
        raise UserError(f"{path} does not exist; `tuitune new {args.path}` makes a project there.")
    # Validate (settings, schema, lock) before handing the terminal to the app.
    with Project.open(path, readonly=args.readonly, fallback_readonly=True) as project:
        summary, readonly, root = project.summary(), project.readonly, project.root
    try:
        launch = importlib.import_module("tuitune.ui.launch")
    except ModuleNotFoundError:
        print(summary)
        return 0
    if not sys.stdout.isatty():
        print(summary)
        return 0
    return int(launch.run_app(root, readonly=readonly) or 0)


def info_command(args: argparse.Namespace) -> int:
    from tuitune.jobs.resolve import find_project_root

    path = Path(args.path) if args.path else find_project_root()
    if path is None:
        raise UserError("This folder is not inside a tuitune project; pass the project folder.")
    with Project.open(path, readonly=True) as project:
        print(project.summary())
    return 0
