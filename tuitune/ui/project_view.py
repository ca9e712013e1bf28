"""The UI's read side of a project folder: items, masks, runs and generations as files on disk.

Everything here is cheap and import-light (no torch): the app calls it from thread workers and timers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune import atomic
from tuitune.jobs.rundir import RunDir
from tuitune.project.folders import ProjectFolders

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
UI_STATE_FILE = "ui_state.json"


@dataclass
class DatasetItem:
    """One training image and what belongs to it on disk."""

    path: Path
    stem: str
    caption: str = ""

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class ProjectView(ProjectFolders):
    """A project folder seen by the app; every method reads the disk afresh."""

    root: Path
    readonly: bool = False
    handle: Any = None  # the engine's open Project (DB + lock) when available
    _items: list[DatasetItem] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def name(self) -> str:
        return self.root.name

    # --- dataset -----------------------------------------------------------------------------------
    def items(self, refresh: bool = False) -> list[DatasetItem]:
        """The dataset's items (``dataset.json``); without one, the images under ``images/`` by name."""
        if self._items is not None and not refresh:
            return self._items
        from tuitune.data.dataset import DATASET_FILE, Dataset

        found: list[DatasetItem] = []
        if (self.root / DATASET_FILE).is_file():
            dataset = Dataset(self.root)
            for item in dataset.items():
                found.append(DatasetItem(path=dataset.image_path(item), stem=item.stem, caption=item.caption))
        elif self.images_dir.is_dir():
            with os.scandir(self.images_dir) as entries:
                names = sorted(e.name for e in entries if e.is_file())
            for name in names:
                path = self.images_dir / name
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    found.append(DatasetItem(path=path, stem=path.stem, caption=_sidecar_caption(path)))
        self._items = found
        return found

    def save_caption(self, item: DatasetItem, caption: str) -> None:
        """Store an edited caption where the dataset keeps captions (``dataset.json`` or ``<stem>.txt``)."""
        from tuitune.data.dataset import DATASET_FILE, Dataset

        caption = " ".join(caption.split())
        if (self.root / DATASET_FILE).is_file():

            def edit(items: list) -> list:
                for stored in items:
                    if stored.stem == item.stem:
                        stored.caption = caption
                return items

            # Applied to dataset.json as it is now, under its lock: a job rewriting it meanwhile keeps this edit.
            Dataset(self.root).update_items(edit)
        else:
            atomic.write_text(item.path.with_suffix(".txt"), caption + "\n")
        item.caption = caption

    def masks_index(self) -> dict:
        from tuitune.data.dataset import Dataset

        return Dataset(self.root).masks_index()

    def set_instance_accepted(self, stem: str, concept: str, index: int, accepted: bool) -> None:
        """Accept or reject one detected instance: masks.json, the concept's mask file and the project database.

        The same engine call as ``tuitune dataset decide``, so training reads a mask that matches the decision.
        Applied to masks.json as it is now, under its lock: a detection merging meanwhile keeps this decision.
        """
        from tuitune.data.concepts import set_decision

        # The app holds the project's writer lock, so the database is written through its own transactions.
        set_decision(self.root, stem, concept, index, accepted, delegate=not self.readonly)

    def masks(self, item: DatasetItem) -> dict[str, Path]:
        """Concept name -> mask PNG for one item (``masks/<stem>/<concept>.png``)."""
        folder = self.masks_dir / item.stem
        if not folder.is_dir():
            return {}
        return {p.stem: p for p in sorted(folder.glob("*.png"))}

    # --- runs ----------------------------------------------------------------------------------------
    def runs(self) -> list[RunDir]:
        """Run directories, newest first by when they were queued (a folder's mtime moves with every status
        write, which would reorder the list under the user's cursor)."""
        if not self.runs_dir.is_dir():
            return []
        runs = [RunDir(p) for p in self.runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]

        def created(run: RunDir) -> float:
            value = run.read_status().get("created")
            return float(value) if isinstance(value, int | float) else run.path.stat().st_mtime

        runs.sort(key=lambda r: (created(r), r.name), reverse=True)
        return runs

    # --- ui state ------------------------------------------------------------------------------------
    def load_ui_state(self) -> dict:
        """Last screen and selections: the project DB's ``ui_state`` when open, else ``cache/ui_state.json``."""
        if self.handle is not None:
            value = self.handle.db.ui_get("app", {})
            return value if isinstance(value, dict) else {}
        try:
            value = json.loads((self.cache_dir / UI_STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return value if isinstance(value, dict) else {}

    def save_ui_state(self, state: dict) -> None:
        if self.readonly:
            return
        if self.handle is not None:
            self.handle.db.ui_set("app", state)
            return
        atomic.write_json(self.cache_dir / UI_STATE_FILE, state)


def _sidecar_caption(path: Path) -> str:
    try:
        return path.with_suffix(".txt").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def open_handle(root: Path, readonly: bool) -> tuple[Any, list[str]]:
    """Open the project through the engine (lock + DB); falls back to read-only when another writer has it.

    Returns the handle (None when the project engine is not available) and sentences to tell the user.
    """
    try:
        from tuitune.project.project import Project
    except ImportError:
        return None, []
    project = Project.open(root, readonly=readonly, fallback_readonly=True)
    notes = list(getattr(project, "notes", []))
    if project.readonly and not readonly:
        holder = getattr(project, "lock_holder", None)
        who = holder.describe() if holder is not None else "another process"
        notes.append(f"Opened read-only: {who} has this project open for writing.")
    return project, notes
