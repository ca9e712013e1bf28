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

A missing file is an empty dataset or index. A file that is there but is not UTF-8 JSON, or not of the shape
tuitune writes (``_items_problem``, ``_masks_problem``), is damaged: every reader and writer stops on it with
one sentence naming it and what to do (tuitune keeps no copy of either), and never reads it as empty, so
nothing is written over what it still holds.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuitune import atomic
from tuitune.errors import UserError
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
        # Absolute (not resolved: a linked project folder keeps its name): the paths made under a relative root
        # would otherwise be taken relative to it a second time.
        self.root = Path(self.root).absolute()

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
        raw = _read_json(self.root / DATASET_FILE, {"items": []}, _items_problem)
        return [DatasetItem.from_dict(row) for row in raw["items"]]

    def save_items(self, items: list[DatasetItem]) -> None:
        """Replace the whole item list (under the lock, so it never lands inside another writer's update)."""
        self.update_items(lambda _current: items)

    def update_items(self, change: Callable[[list[DatasetItem]], list[DatasetItem]]) -> list[DatasetItem]:
        """Apply ``change`` (current items -> new items) to dataset.json as it is now; returns the new items.

        Keep ``change`` short and do not update the same file inside it: the lock is held while it runs.
        """

        path = self.root / DATASET_FILE

        def apply(raw: object) -> dict[str, Any]:
            _check_shape(path, raw, _items_problem)
            new = change([DatasetItem.from_dict(row) for row in raw["items"]])  # type: ignore[index]
            return {"version": 1, "items": [asdict(i) for i in new]}

        written = _update_json(path, apply, {"items": []}, self.lock_timeout)
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
        return _read_json(self.root / MASKS_FILE, {"masks": {}}, _masks_problem)["masks"]

    def save_masks_index(self, index: MasksIndex) -> None:
        """Replace the whole masks index (under the lock, so it never lands inside another writer's update)."""
        self.update_masks_index(lambda _current: index)

    def update_masks_index(self, change: Callable[[MasksIndex], MasksIndex]) -> MasksIndex:
        """Apply ``change`` (current index -> new index) to masks.json as it is now; returns the new index.

        ``change`` may edit the index it is given and return it. When it raises, masks.json is left as it
        was. Keep it short and do not update the same file inside it: the lock is held while it runs.
        """

        path = self.root / MASKS_FILE

        def apply(raw: object) -> dict[str, Any]:
            _check_shape(path, raw, _masks_problem)
            return {"version": 1, "masks": change(raw["masks"])}  # type: ignore[index]

        return _update_json(path, apply, {"masks": {}}, self.lock_timeout)["masks"]


def check_files(into: str | Path, masks: bool = True) -> None:
    """Read each file of the dataset or project folder ``into`` a command reads or changes (project.toml,
    tuitune.db, dataset.json, and masks.json when ``masks``) before it changes any: a damaged one stops the
    command with its sentence before a picture, mask or JSON file is written, never halfway."""
    from tuitune.project.project import check_files as check_project_files
    from tuitune.project.project import is_project

    if is_project(into):
        check_project_files(into)
    dataset = Dataset(Path(into).expanduser())
    dataset.items()
    if masks:
        dataset.masks_index()


# --- reading the two files: missing = empty, damaged = one sentence --------------------------------------
Problem = Callable[[object], "str | None"]  # what is wrong with a parsed file's shape, in a few words, or None


def _read_json(path: Path, default: dict[str, Any], problem: Problem) -> dict[str, Any]:
    """The JSON object in ``path``, ``default`` when the file is missing; a damaged file is ``damaged(path)``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return copy.deepcopy(default)
    value = _parse(path, data)
    _check_shape(path, value, problem)
    return value  # type: ignore[no-any-return]


def _update_json(path: Path, apply: Callable[[object], dict[str, Any]], default: dict[str, Any],
                 timeout: float) -> dict[str, Any]:
    """``atomic.update_json`` whose reading of a damaged file (not UTF-8 JSON) is ``damaged(path)``."""
    parsed = False

    def checked(raw: object) -> dict[str, Any]:
        nonlocal parsed
        parsed = True
        return apply(raw)

    try:
        return atomic.update_json(path, checked, copy.deepcopy(default), timeout)  # type: ignore[no-any-return]
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        if parsed:
            raise  # raised by the change, not by reading the file
        raise damaged(path, _parse_problem(exc)) from None


def _parse(path: Path, data: bytes) -> object:
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise damaged(path, _parse_problem(exc)) from None


def _parse_problem(exc: ValueError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"it is not UTF-8 text (byte {exc.start})"
    if isinstance(exc, json.JSONDecodeError):
        if not exc.doc.strip():
            return "it is empty"
        return f"it is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    return f"it cannot be read ({exc})"


def _check_shape(path: Path, value: object, problem: Problem) -> None:
    found = problem(value)
    if found is not None:
        raise damaged(path, found)


class DamagedFile(UserError, ValueError):
    """dataset.json or masks.json is there but not UTF-8 JSON of the shape tuitune writes. Also a ValueError,
    as the JSON error it replaces was, so a caller that handled that one handles this one."""


def damaged(path: Path, problem: str) -> DamagedFile:
    """The one sentence for a damaged dataset.json or masks.json: where, what, and how to get a sound one."""
    path = path.absolute()
    if path.name == MASKS_FILE:
        again = (f"move it aside and find the masks again with `tuitune dataset detect --into {path.parent}` "
                 "(the accept/reject decisions it holds are lost)")
    else:
        again = (f"move it and images/ aside and import your pictures again with `tuitune dataset import FOLDER "
                 f"--into {path.parent}` (captions edited since are lost, and augmented pictures must be made again)")
    return DamagedFile(f"{path} is damaged ({problem}), and tuitune keeps no copy of it; fix it by hand, or {again}.")


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


_TEXT, _WHOLE = (str,), (int,)
# DatasetItem's fields as dataset.json holds them: (JSON types allowed, required).
_ITEM_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "stem": (_TEXT, True), "path": (_TEXT, True), "caption": (_TEXT, True), "repeats": (_WHOLE, True),
    "width": (_WHOLE, True), "height": (_WHOLE, True), "hash": (_TEXT, True), "source": (_TEXT, False),
    "group": (_TEXT, False), "derived_from": ((str, type(None)), False), "provenance": ((dict,), False),
    "notes": ((list,), False),
}  # fmt: skip


def _wrong(value: object, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds)


def _items_problem(raw: object) -> str | None:
    """What is wrong with a parsed dataset.json: an object whose "items" is a list of item objects."""
    if not isinstance(raw, dict):
        return f'it holds {_kind(raw)} where an object with "items" belongs'
    if "items" not in raw:
        return 'it has no "items"'
    if not isinstance(raw["items"], list):
        return f'its "items" is {_kind(raw["items"])}, not a list'
    for n, row in enumerate(raw["items"]):
        if not isinstance(row, dict):
            return f"item {n} is {_kind(row)}, not an object"
        for key, (kinds, required) in _ITEM_FIELDS.items():
            if key not in row:
                if required:
                    return f'item {n} has no "{key}"'
            elif _wrong(row[key], kinds):
                return f'item {n}\'s "{key}" is {_kind(row[key])} ({row[key]!r:.40})'
    return None


_INSTANCE_FIELDS: dict[str, tuple[type, ...]] = {
    "box": (list,), "accepted": (bool,), "score": (int, float, type(None)),
    "similarity": (int, float, type(None)), "mask": (str,), "decided": (str, type(None)),
}  # fmt: skip


def _masks_problem(raw: object) -> str | None:
    """What is wrong with a parsed masks.json: ``{"masks": {stem: {concept: {"path", "instances": [...]}}}}``."""
    if not isinstance(raw, dict):
        return f'it holds {_kind(raw)} where an object with "masks" belongs'
    if "masks" not in raw:
        return 'it has no "masks"'
    index = raw["masks"]
    if not isinstance(index, dict):
        return f'its "masks" is {_kind(index)}, not an object'
    for stem, concepts in index.items():
        if not isinstance(concepts, dict):
            return f"the masks of {stem!r} are {_kind(concepts)}, not an object"
        for concept, entry in concepts.items():
            where = f"{stem!r} {concept!r}"
            if not isinstance(entry, dict):
                return f"the entry {where} is {_kind(entry)}, not an object"
            for key in ("path", "source"):
                if key in entry and not isinstance(entry[key], str):
                    return f'the entry {where} has a "{key}" that is {_kind(entry[key])}, not text'
            instances = entry.get("instances", [])
            if not isinstance(instances, list):
                return f'the entry {where} has "instances" that are {_kind(instances)}, not a list'
            for n, inst in enumerate(instances):
                if not isinstance(inst, dict):
                    return f"instance {n} of {where} is {_kind(inst)}, not an object"
                for key, kinds in _INSTANCE_FIELDS.items():
                    if key in inst and _wrong(inst[key], kinds):
                        return f'instance {n} of {where} has a "{key}" that is {_kind(inst[key])}'
                box = inst.get("box", [0, 0, 0, 0])
                if len(box) != 4 or any(_wrong(v, (int, float)) for v in box):
                    return f'instance {n} of {where} has a "box" that is not four numbers'
    return None
