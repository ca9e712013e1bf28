"""Mirror dataset items, masks and detected instances into the project database when the folder is a project.

The JSON files in the dataset folder stay what the engine reads; the project database gets a copy so the app
can list, filter and record accept/reject without opening images. A bare folder (no project) is left alone,
and a project locked by another writer is skipped with a note rather than failing the import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuitune.data.dataset import DatasetItem


def _open(root: Path) -> Any | None:
    if not (root / "project.toml").exists():
        return None
    try:
        from tuitune.project.project import Project
    except ModuleNotFoundError:
        return None
    project = Project.open(root, fallback_readonly=True)
    if project.readonly:
        project.close()
        return None
    return project


def record_items(root: Path, items: list[DatasetItem]) -> bool:
    """Record ``items`` in the project at ``root``; False when ``root`` is not a writable project."""
    project = _open(root)
    if project is None:
        return False
    with project:
        for item in items:
            meta = {"stem": item.stem, "repeats": item.repeats, "hash": item.hash, "source": item.source,
                    "derived_from": item.derived_from, "provenance": item.provenance}
            project.db.upsert_item(root / item.path, caption=item.caption, meta=meta)
    return True


def record_masks(root: Path, items: list[DatasetItem], index: dict[str, dict[str, Any]]) -> bool:
    project = _open(root)
    if project is None:
        return False
    by_stem = {item.stem: item for item in items}
    with project:
        for stem, concepts in index.items():
            item = by_stem.get(stem)
            if item is None:
                continue
            image = root / item.path
            if project.db.item(image) is None:
                project.db.upsert_item(image, caption=item.caption)
            for concept, entry in concepts.items():
                project.db.set_mask(image, concept, root / entry["path"], source="detected")
                for inst in entry.get("instances", []):
                    inst_id = project.db.add_instance(image, concept, inst["box"], inst.get("score", 0.0))
                    project.db.set_instance_decision(inst_id, "accepted" if inst["accepted"] else "rejected")
    return True
