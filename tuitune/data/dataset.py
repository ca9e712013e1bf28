"""The dataset on disk: items (imported and derived) and the masks index, kept as JSON beside the images.

Layout of a dataset folder (a project folder is one)::

    images/<stem>.<ext>            imported pictures, upright RGB
    derived/<stem>.png             augmented pictures (provenance in the item)
    masks/<stem>/<concept>.png     white = concept
    cache/thumbs/<hash>.jpg        thumbnails
    dataset.json                   items
    masks.json                     masks index: per stem and concept, instances with accept/reject

Several processes write the two JSON files (the app, detection, augmentation and import jobs). Every change
goes through ``update_items`` / ``update_masks_index``: read, change and replace under an exclusive lock
(``atomic.exclusive``, POSIX), so each change applies to the file as it is at that moment and none is lost.
Readers take no lock: the files are replaced atomically.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuitune import atomic
from tuitune.intent.spec import concept_filename  # noqa: F401  (the mask file name of a concept)
from tuitune.paths import inside, safe_stem

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




MasksIndex = dict[str, dict[str, Any]]


@dataclass
class Dataset:
    root: Path
    lock_timeout: float = atomic.LOCK_TIMEOUT  # seconds to wait for another writer of dataset.json/masks.json

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
        """``masks/<stem>/<concept>.png``; a user error when ``stem`` is not a plain name or a link on the way
        leads outside the dataset folder (callers check stems read from a file first, naming that file)."""
        path = self.masks_dir / safe_stem(stem, "The stem") / f"{concept_filename(concept)}.png"
        return inside(self.root, path, follow_links=False)

    # --- items -------------------------------------------------------------------------------------
    def items(self) -> list[DatasetItem]:
        raw = _read_json(self.root / DATASET_FILE, {"items": []})
        return [DatasetItem.from_dict(row) for row in raw.get("items", [])]

    def save_items(self, items: list[DatasetItem]) -> None:
        """Replace the whole item list (under the lock, so it never lands inside another writer's update)."""
        self.update_items(lambda _current: items)

    def update_items(self, change: Callable[[list[DatasetItem]], list[DatasetItem]]) -> list[DatasetItem]:
        """Apply ``change`` (current items -> new items) to dataset.json as it is now; returns the new items.

        Keep ``change`` short and do not update the same file inside it: the lock is held while it runs.
        """

        def apply(raw: object) -> dict[str, Any]:
            rows = raw.get("items", []) if isinstance(raw, dict) else []
            new = change([DatasetItem.from_dict(row) for row in rows])
            return {"version": 1, "items": [asdict(i) for i in new]}

        written = atomic.update_json(self.root / DATASET_FILE, apply, {"items": []}, self.lock_timeout)
        return [DatasetItem.from_dict(row) for row in written["items"]]

    def image_path(self, item: DatasetItem) -> Path:
        """Where dataset.json says the item's picture is, unchecked (for listing); read it via ``pictures``."""
        return self.root / item.path

    def pictures(self, items: list[DatasetItem]) -> dict[str, Path]:
        """Each item's stem -> its picture, resolved; a user error naming dataset.json and the key when a stem
        is not a plain name or a path leads outside the dataset folder (also through a link)."""
        found: dict[str, Path] = {}
        for item in items:
            stem = safe_stem(item.stem, f"{DATASET_FILE} stem")
            found[stem] = inside(self.root, item.path, f"{DATASET_FILE} item {stem!r} path")
        return found

    # --- masks index -------------------------------------------------------------------------------
    def masks_index(self) -> MasksIndex:
        """``{stem: {concept: {"path": ..., "instances": [{box, score, similarity, accepted}, ...]}}}``."""
        return _read_json(self.root / MASKS_FILE, {}).get("masks", {})

    def save_masks_index(self, index: MasksIndex) -> None:
        """Replace the whole masks index (under the lock, so it never lands inside another writer's update)."""
        self.update_masks_index(lambda _current: index)

    def update_masks_index(self, change: Callable[[MasksIndex], MasksIndex]) -> MasksIndex:
        """Apply ``change`` (current index -> new index) to masks.json as it is now; returns the new index.

        ``change`` may edit the index it is given and return it. When it raises, masks.json is left as it
        was. Keep it short and do not update the same file inside it: the lock is held while it runs.
        """

        def apply(raw: object) -> dict[str, Any]:
            index = raw.get("masks", {}) if isinstance(raw, dict) else {}
            return {"version": 1, "masks": change(index if isinstance(index, dict) else {})}

        return atomic.update_json(self.root / MASKS_FILE, apply, {}, self.lock_timeout)["masks"]


def _read_json(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    return value if isinstance(value, dict) else default
