"""Turn what the user typed (a run folder, or a run name inside the current project) into a RunDir."""

from __future__ import annotations

from pathlib import Path

from tuitune.errors import UserError
from tuitune.jobs.queue import run_dirs
from tuitune.jobs.rundir import RunDir

PROJECT_FILE = "project.toml"


def find_project_root(start: Path | None = None) -> Path | None:
    """The folder holding ``project.toml`` at or above ``start`` (default: the current folder)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def runs_root(project: str | Path | None = None) -> Path:
    """The runs folder of ``project`` (a path), or of the project around the current folder."""
    root = Path(project).expanduser().resolve() if project else find_project_root()
    if root is None:
        raise UserError("This folder is not inside a tuitune project; cd into one or pass --project PATH.")
    if not (root / PROJECT_FILE).is_file():
        raise UserError(f"{root} is not a tuitune project (no {PROJECT_FILE}); pass the project folder.")
    return root / "runs"


def resolve_run(text: str, project: str | Path | None = None) -> RunDir:
    """A run directory path, or a run name (or unique prefix of one) in the project's runs folder."""
    candidate = Path(text).expanduser()
    if (candidate / "run.toml").is_file():
        return RunDir(candidate.resolve())
    if candidate.is_dir() and len(candidate.parts) > 1:
        raise UserError(f"{candidate} has no run.toml, so it is not a run folder; `tuitune runs` lists runs.")
    root = runs_root(project)
    runs = run_dirs(root)
    exact = [r for r in runs if r.name == text]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.name.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(r.name for r in matches[:5])
        raise UserError(f"{text!r} matches several runs ({names}); type more of the name.")
    raise UserError(f"No run named {text!r} in {root}; `tuitune runs` lists them.")
