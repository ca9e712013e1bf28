"""A project folder: settings, database, writer lock and the standard subfolders, opened as one object."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.project.db import DB_FILE, ProjectDB, check_database
from tuitune.project.folders import ProjectFolders
from tuitune.project.lock import LockHolder, ProjectLocked, WriterLock, read_holder
from tuitune.project.settings import SETTINGS_FILE, ProjectSettings, load_settings, save_settings

FOLDERS = ("images", "masks", "cache", "runs", "generations")
_BAD_NAME = re.compile(r"[\x00-\x1f/\\]")


@dataclass
class Project(ProjectFolders):
    """An open project. Use ``Project.create`` / ``Project.open``; close it (or use ``with``) when done."""

    root: Path
    settings: ProjectSettings
    db: ProjectDB
    readonly: bool
    lock: WriterLock | None = None
    lock_holder: LockHolder | None = None  # who holds the lock when we opened read-only because of it
    moved_from: Path | None = None  # the folder the project was last opened from, when it has moved
    notes: list[str] = field(default_factory=list)  # things the user should be told once

    @property
    def name(self) -> str:
        return self.settings.name

    # --- lifecycle ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, name: str | None = None, **settings: Any) -> Project:
        """Make a new project folder (it may exist but must not hold a project) and open it for writing."""
        root = Path(path).expanduser().resolve()
        if (root / SETTINGS_FILE).exists():
            raise UserError(f"{root} is already a tuitune project; open it with `tuitune open {path}`.")
        if root.exists() and not root.is_dir():
            raise UserError(f"{root} is a file, not a folder; pick another path for the project.")
        name = name or root.name
        if not name or _BAD_NAME.search(name):
            raise UserError(f"{name!r} cannot be a project name; use letters, digits, spaces, '-' or '_'.")
        project_settings = ProjectSettings.model_validate({"name": name, **settings})
        try:
            root.mkdir(parents=True, exist_ok=True)
            for folder in FOLDERS:
                (root / folder).mkdir(exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"Cannot create {root} ({exc.strerror}); pick a folder you can write to."
            ) from None
        save_settings(root / SETTINGS_FILE, project_settings)
        return cls.open(root)

    @classmethod
    def open(cls, path: str | Path, readonly: bool = False, fallback_readonly: bool = False) -> Project:
        """Open for writing (taking the lock), or read-only.

        With ``fallback_readonly`` a project whose lock is held opens read-only and ``lock_holder`` says
        who holds it; without it, ``ProjectLocked`` says so.
        """
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise UserError(f"{root} does not exist; `tuitune new {path}` makes a project there.")
        settings = load_settings(root / SETTINGS_FILE)
        lock: WriterLock | None = None
        holder: LockHolder | None = None
        why = "it was opened read-only"
        if not readonly:
            try:
                lock = WriterLock(root).acquire()
            except ProjectLocked as exc:
                if not fallback_readonly:
                    raise
                readonly, holder = True, exc.holder
                why = f"{holder.describe() if holder else 'another process'} has it open for writing"
            except OSError as exc:
                if not fallback_readonly:
                    raise UserError(
                        f"Cannot lock {root} ({exc.strerror}); open it read-only (--readonly)."
                    ) from None
                readonly, why = True, f"the folder cannot be written ({exc.strerror})"
        try:
            db = ProjectDB(root / DB_FILE, root, readonly=readonly, why_readonly=why)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        project = cls(root=root, settings=settings, db=db, readonly=readonly, lock=lock, lock_holder=holder)
        if lock is not None and lock.took_over is not None:
            project.notes.append(f"Took over the lock left by {lock.took_over.describe()}, which is gone.")
        project._note_location()
        return project

    def _note_location(self) -> None:
        last = self.db.ui_get("project_root")
        if last and Path(last) != self.root:
            self.moved_from = Path(last)
            self.notes.append(f"The project moved from {last}; its files are read from {self.root} now.")
        if not self.readonly and last != str(self.root):
            self.db.ui_set("project_root", str(self.root))
        for folder in FOLDERS:
            if not (self.root / folder).is_dir() and not self.readonly:
                (self.root / folder).mkdir()

    def close(self) -> None:
        self.db.close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- settings ----------------------------------------------------------------------------------
    def save_settings(self, settings: ProjectSettings | None = None) -> None:
        if self.readonly:
            raise UserError("This project is open read-only, so settings were not saved.")
        if settings is not None:
            self.settings = settings
        save_settings(self.root / SETTINGS_FILE, self.settings)

    def summary(self) -> str:
        """A few lines a person can read: name, model, data, spec, runs."""
        from tuitune.jobs.listing import list_runs

        spec = self.db.latest_spec()
        items = self.db.items()
        lines = [
            f"{self.name} ({self.root})" + ("  [read-only]" if self.readonly else ""),
            f"  base model   {self.settings.base_model}",
            f"  intent       {self.settings.intent.parser} parser; "
            + (f"spec version {spec.version}" if spec else "no spec yet"),
            f"  dataset      {len(items)} images, {len(self.db.masks())} masks",
        ]
        runs = list_runs(self.runs_dir)
        lines.append(f"  runs         {len(runs)}")
        lines.extend(f"    {r.name}: {r.describe()}" for r in runs[-5:])
        if self.lock_holder is not None:
            lines.append(f"  writer       {self.lock_holder.describe()}")
        lines.extend(f"  note         {note}" for note in self.notes)
        return "\n".join(lines)


def lock_holder(path: str | Path) -> LockHolder | None:
    """Who last took the writer lock of the project at ``path`` (a free lock's file is empty)."""
    return read_holder(Path(path) / "tuitune.lock")


def check_files(path: str | Path) -> None:
    """Read the project's ``project.toml`` and ``tuitune.db`` (every page; a newer schema is refused) without
    changing either, so a command that writes elsewhere first stops on a damaged one before it writes anything.
    A missing database is no error here: opening the project for writing makes one."""
    root = Path(path).expanduser().resolve()
    load_settings(root / SETTINGS_FILE)
    if (root / DB_FILE).exists():
        check_database(root / DB_FILE)


def is_project(path: str | Path) -> bool:
    """The folder holds a tuitune project (a ``project.toml``)."""
    return (Path(path).expanduser() / SETTINGS_FILE).is_file()


def open_for_update(path: str | Path, delegate: bool = False) -> Project | None:
    """The project at ``path`` opened for writing, or None when the folder is not a project or another
    process holds its writer lock (background updates such as mirroring skip it rather than fail).

    ``delegate``: the caller works for the lock holder (a job the app started), so while the lock is held
    it writes through the database's own transactions without taking the lock.
    """
    if not is_project(path):
        return None
    project = Project.open(path, fallback_readonly=True)
    if not project.readonly:
        return project
    held_by_live_process = project.lock_holder is not None
    project.close()
    if not (delegate and held_by_live_process):
        return None
    root = Path(path).expanduser().resolve()
    db = ProjectDB(root / DB_FILE, root)
    return Project(root=root, settings=load_settings(root / SETTINGS_FILE), db=db, readonly=False)
