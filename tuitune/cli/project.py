"""``tuitune new NAME``, ``tuitune open NAME`` (a sample project is made on first open) and ``tuitune info``."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from tuitune.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    new = subparsers.add_parser("new", help="make a new project folder")
    new.add_argument("path", metavar="NAME", help="folder to create (its name is the project name)")
    new.add_argument(
        "--base-model", default=None, help="diffusers folder, .safetensors file, hub id or 'toyworld'"
    )
    new.add_argument("--parser", choices=["rules", "ollama", "transformers"], default=None,
                     help="how intents are turned into a spec")  # fmt: skip
    new.set_defaults(handler=new_command)

    open_ = subparsers.add_parser(
        "open", help="open a project in the app (a sample project is made on first open)"
    )
    open_.add_argument("path", metavar="NAME", help="project folder")
    open_.add_argument("--readonly", action="store_true", help="look without writing")
    open_.add_argument(
        "--copy-to", metavar="DIR", default=None,
        help="for a sample project: where your copy is made (default ~/tuitune/NAME)",
    )
    open_.set_defaults(handler=open_command)

    info = subparsers.add_parser("info", help="print a project's summary")
    info.add_argument("path", metavar="NAME", nargs="?", default=None, help="project folder (default: here)")
    info.set_defaults(handler=info_command)


def new_command(args: argparse.Namespace) -> int:
    from tuitune.project.project import Project

    settings = {k: v for k, v in {"base_model": args.base_model}.items() if v is not None}
    if args.parser:
        settings["intent"] = {"parser": args.parser}
    with Project.create(args.path, **settings) as project:
        print(f"Made project {project.name} in {project.root}; `tuitune open {args.path}` opens it.")
    return 0


def open_command(args: argparse.Namespace) -> int:
    from tuitune.project.project import Project

    path = _project_to_open(Path(args.path).expanduser(), args)
    # Validate (settings, schema, lock) before handing the terminal to the app.
    with Project.open(path, readonly=args.readonly, fallback_readonly=True) as project:
        summary, readonly, root = project.summary(), project.readonly, project.root
    try:
        launch = importlib.import_module("tuitune.ui.launch")
    except ModuleNotFoundError:
        print(summary)
        return 0
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UserError(f"tuitune's app needs a terminal, and this one's input or output is piped or a file; "
                        f"run it in a terminal (ssh -t, tmux), or `tuitune info {root}` for a summary.")
    return int(launch.run_app(root, readonly=readonly) or 0)


def _project_to_open(path: Path, args: argparse.Namespace) -> Path:
    """The project folder to open: ``path`` itself, or the sample project made (or reused) for it."""
    from tuitune.cli import sample
    from tuitune.project.project import is_project

    copy_to = Path(args.copy_to).expanduser() if getattr(args, "copy_to", None) else None
    found = sample.sample_for(path)
    if found is None:
        if copy_to is not None:
            raise UserError(f"{path} is not a sample project, so there is nothing to copy; drop --copy-to.")
        if not path.exists():
            raise UserError(f"{path} does not exist; `tuitune new {path}` makes a project there.")
        return path
    if sample.is_template(path) or copy_to is not None:
        # The committed sample stays as it is; the user works in their own copy.
        dest = (copy_to or sample.default_copy_dir(found.name)).resolve()
        if is_project(dest):
            print(f"Opening your copy of the {found.name} sample in {dest}.", file=sys.stderr)
            return dest
        if dest.exists() and any(dest.iterdir()):
            raise UserError(f"{dest} exists and is not a tuitune project; pass --copy-to with a new folder.")
    else:
        dest = path.resolve()
    if args.readonly:
        raise UserError(f"{dest} is not made yet; open it once without --readonly to make it.")
    sample.make_sample(dest, found.name).close()
    print(f"Made the {found.name} sample project in {dest}.", file=sys.stderr)
    return dest


def info_command(args: argparse.Namespace) -> int:
    from tuitune.jobs.resolve import find_project_root
    from tuitune.project.project import Project

    path = Path(args.path) if args.path else find_project_root()
    if path is None:
        raise UserError("This folder is not inside a tuitune project; pass the project folder.")
    with Project.open(path, readonly=True) as project:
        print(project.summary())
    return 0
