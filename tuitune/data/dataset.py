"""The dataset on disk: items (imported and derived) and the masks index, kept as JSON beside the images.

Layout of a dataset folder (a project folder is one)::

    images/<stem>.<ext>            imported pictures, upright RGB
    derived/<stem>.png             augmented pictures (provenance in the item)
    masks/<stem>/<concept>.png     white = concept
    cache/thumbs/<hash>.jpg        thumbnails
    dataset.json                   items
    masks.json                     masks index: per stem and concept, instances with accept/reject
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuitune import atomic

DATASET_FILE = "dataset.json"
MASKS_FILE = "masks.json"


@dataclass
class DatasetItem:
    stem: str
    path: str  # relative to the dataset folder
    caption: str
    repeats: int
    width: int
    height: int
    hash: str
    source: str = ""  # where it came from: relative path in the imported folder, or the parent stem
    group: str = ""  # kohya class folder name ("" for a plain folder)
    derived_from: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DatasetItem:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)


def concept_filename(concept: str) -> str:
    """A file name for a concept that every OS accepts; the concept name is otherwise kept as typed."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", concept.strip()).strip(". ")
    return cleaned or "concept"


@dataclass
class Dataset:
    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def derived_dir(self) -> Path:
        return self.root / "derived"

    @property
    def masks_dir(self) -> Path:
        return self.root / "masks"

    @property
    def thumbs_dir(self) -> Path:
        return self.root / "cache" / "thumbs"

    def mask_path(self, stem: str, concept: str) -> Path:
        return self.masks_dir / stem / f"{concept_filename(concept)}.png"

    # --- items -------------------------------------------------------------------------------------
    def items(self) -> list[DatasetItem]:
        raw = _read_json(self.root / DATASET_FILE, {"items": []})
        return [DatasetItem.from_dict(row) for row in raw.get("items", [])]

    def save_items(self, items: list[DatasetItem]) -> None:
        atomic.write_json(self.root / DATASET_FILE, {"version": 1, "items": [asdict(i) for i in items]})

    def image_path(self, item: DatasetItem) -> Path:
        return self.root / item.path

    # --- masks index -------------------------------------------------------------------------------
    def masks_index(self) -> dict[str, dict[str, Any]]:
        """``{stem: {concept: {"path": ..., "instances": [{box, score, similarity, accepted}, ...]}}}``."""
        return _read_json(self.root / MASKS_FILE, {}).get("masks", {})

    def save_masks_index(self, index: dict[str, dict[str, Any]]) -> None:
        atomic.write_json(self.root / MASKS_FILE, {"version": 1, "masks": index})


def _read_json(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    return value if isinstance(value, dict) else default
