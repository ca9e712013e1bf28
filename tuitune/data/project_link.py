"""The dataset's one link to its project database: mirror items, masks and instances in, read what it sets aside.

The JSON files in the dataset folder stay what the engine reads; the project database gets a copy so the app
can list, filter and record accept/reject without opening images. A bare folder (no project) is left alone,
and a project locked by another writer is skipped with a note rather than failing the import. An entry whose
path leads outside the folder is not mirrored, so the app never opens what a crafted file names; the commands
that read that entry stop on it with a sentence (``tuitune.paths``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuitune.cli import UserError
from tuitune.data.dataset import DatasetItem
from tuitune.paths import inside


def _open(root: Path, delegate: bool = False) -> Any | None:
    from tuitune.project.project import open_for_update

    return open_for_update(root, delegate=delegate)


def record_items(root: Path, items: list[DatasetItem]) -> bool:
    """Record ``items`` in the project at ``root``; False when ``root`` is not a writable project."""
    project = _open(root)
    if project is None:
        return False
    with project:
        for item in items:
            if not _inside(root, item.path):
                continue
            meta = {"stem": item.stem, "repeats": item.repeats, "hash": item.hash, "source": item.source,
                    "derived_from": item.derived_from, "provenance": item.provenance}
            project.db.upsert_item(root / item.path, caption=item.caption, meta=meta)
    return True


def record_masks(root: Path, items: list[DatasetItem], index: dict[str, dict[str, Any]],
                 delegate: bool = False) -> bool:
    """Record the masks and instances of ``index`` (stems -> concepts); each (image, concept) gets exactly
    the instances the index holds, so detecting again never duplicates rows. ``delegate``: see
    ``tuitune.project.project.open_for_update``."""
    project = _open(root, delegate)
    if project is None:
        return False
    by_stem = {item.stem: item for item in items}
    with project:
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
                project.db.set_mask(image, concept, root / entry["path"], source="detected")
                found = [(inst["box"], float(inst.get("score") or 0.0),
                          "accepted" if inst["accepted"] else "rejected") for inst in entry.get("instances", [])]
                project.db.replace_instances(image, concept, found)
    return True


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
