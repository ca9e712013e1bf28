"""The dataset's one link to its project database: mirror items, masks and instances in, read what it sets aside.

The JSON files in the dataset folder stay what the engine reads; the project database gets a copy so the app
can list, filter and record accept/reject without opening images. A bare folder (no project) is left alone.
An import brings the database's item rows in line with dataset.json as a whole (``sync_items``), waiting for
another writer such as a second import, so two imports at once leave the files and the database agreeing; a
project kept open for writing longer than that is left with a note. Rows are stored relative to the project,
whatever the current folder. An entry whose path leads outside the folder is not mirrored, so the app never
opens what a crafted file names; the commands that read that entry stop on it with a sentence (``tuitune.paths``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tuitune.data.dataset import Dataset, DatasetItem
from tuitune.errors import UserError
from tuitune.paths import inside

WAIT_FOR_WRITER = 30.0  # seconds an import waits for another writer of the project before leaving a note


def _open(root: Path, delegate: bool = False) -> Any | None:
    from tuitune.project.project import open_for_update

    return open_for_update(root, delegate=delegate)


def sync_items(root: Path, masks: dict[str, dict[str, Any]] | None = None,
               wait: float = WAIT_FOR_WRITER) -> str | None:
    """Make the project database hold every picture dataset.json holds (derived ones aside), with its caption and
    details, and record ``masks`` (stems -> imported mask entries). Rows left by an earlier import run from
    another folder (their path relative to that folder, the same picture) are folded into the right row.

    Waits up to ``wait`` seconds for another process holding the project's writer lock. Returns None when done
    or when ``root`` is not a project, else one sentence saying why the database was not updated.
    """
    project, note = _open_waiting(Path(root), wait)
    if project is None:
        return note
    with project:
        items = [i for i in Dataset(project.root).items() if i.derived_from is None and _inside(project.root, i.path)]
        stored = {row.image: row for row in project.db.items()}
        rows, wanted = [], {}
        for item in items:
            key = Path(item.path).as_posix()
            meta = {"stem": item.stem, "repeats": item.repeats, "hash": item.hash, "source": item.source,
                    "derived_from": item.derived_from, "provenance": item.provenance}
            wanted[key] = item
            row = stored.get(key)
            if row is None or row.caption != item.caption or row.meta != meta:
                rows.append((project.root / item.path, item.caption, meta))
        project.db.upsert_items(rows)
        by_hash = {item.hash: key for key, item in wanted.items() if item.hash}
        for image, row in stored.items():
            key = by_hash.get(row.meta.get("hash")) if isinstance(row.meta, dict) else None
            if key is None or key == image or (project.root / image).exists():
                continue
            if key not in stored:  # the picture's flags (set aside, split) move to its right row
                project.db.upsert_item(project.root / key, enabled=row.enabled, split=row.split)
            project.db.remove_item(image)
        if masks:
            _record_masks(project, items, masks, "imported")
    return None


def _open_waiting(root: Path, wait: float) -> tuple[Any | None, str | None]:
    from tuitune.project.project import Project, is_project

    if not is_project(root):
        return None, None
    deadline = time.monotonic() + wait
    while True:
        project = Project.open(root, fallback_readonly=True)
        if not project.readonly:
            return project, None
        holder = project.lock_holder
        why = project.db.why_readonly
        project.close()
        if holder is None or time.monotonic() >= deadline:
            return None, (f"The project database was not updated because {why}; the pictures are in dataset.json, "
                          "so import the same folder again once it is free (nothing is added twice).")
        time.sleep(0.1)


def record_masks(root: Path, items: list[DatasetItem], index: dict[str, dict[str, Any]],
                 delegate: bool = False) -> bool:
    """Record the masks and instances of ``index`` (stems -> concepts); each (image, concept) gets exactly
    the instances the index holds, so detecting again never duplicates rows. ``delegate``: see
    ``tuitune.project.project.open_for_update``."""
    project = _open(root, delegate)
    if project is None:
        return False
    with project:
        _record_masks(project, items, index, "detected")
    return True


def _record_masks(project: Any, items: list[DatasetItem], index: dict[str, dict[str, Any]], source: str) -> None:
    root = project.root  # resolved: rows are stored relative to the project, not to the current folder
    by_stem = {item.stem: item for item in items}
    for stem, concepts in index.items():
        item = by_stem.get(stem)
        if item is None or not _inside(root, item.path):
            continue
        image = root / item.path
        if project.db.item(image) is None:
            project.db.upsert_item(image, caption=item.caption)
        for concept, entry in concepts.items():
            if not isinstance(entry, dict) or not _inside(root, entry.get("path")):
                continue
            project.db.set_mask(image, concept, root / entry["path"], source=entry.get("source") or source)
            found = [(inst["box"], float(inst.get("score") or 0.0),
                      "accepted" if inst["accepted"] else "rejected") for inst in entry.get("instances", [])]
            project.db.replace_instances(image, concept, found)


def _inside(root: Path, value: object) -> bool:
    try:
        inside(root, value)  # type: ignore[arg-type]
    except UserError:
        return False
    return True


def set_aside_images(root: Path) -> set[str]:
    """Image paths (relative to the project) its database marks disabled or held out of the ``train`` split.

    Empty for a folder that is not a project. Read-only, so it works while the app holds the writer lock.
    """
    from tuitune.project.db import DB_FILE, ProjectDB

    root = Path(root)
    if not (root / DB_FILE).is_file():
        return set()
    db = ProjectDB(root / DB_FILE, root, readonly=True)
    try:
        return {item.image for item in db.items() if not item.enabled or item.split != "train"}
    finally:
        db.close()
