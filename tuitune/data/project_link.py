"""Mirror dataset items and masks into the project database when the folder is a tuitune project.

The JSON files in the dataset folder stay the source the engine reads; the project database gets a copy so
the app can list and filter without opening images. Without a project (a bare folder) nothing happens.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tuitune.data.dataset import DatasetItem


def _project_api() -> Any | None:
    try:
        return importlib.import_module("tuitune.project.store")
    except ModuleNotFoundError:
        return None


def record_items(root: Path, items: list[DatasetItem]) -> bool:
    """Record ``items`` in the project at ``root``; False when there is no project API or project there."""
    api = _project_api()
    if api is None or not (root / "tuitune.db").exists() or not hasattr(api, "record_items"):
        return False
    api.record_items(root, [item.__dict__ for item in items])
    return True


def record_masks(root: Path, index: dict[str, dict[str, Any]]) -> bool:
    api = _project_api()
    if api is None or not (root / "tuitune.db").exists() or not hasattr(api, "record_masks"):
        return False
    api.record_masks(root, index)
    return True
