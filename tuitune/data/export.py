"""Export the dataset as a kohya-style folder any trainer reads: ``N_name/`` images + ``.txt``, ``masks/``, loss.

Written into a hidden sibling folder first and renamed into place at the end, so an interrupted export never
leaves a folder that looks complete. Pictures the project sets aside (disabled, or held out of the ``train``
split) never reach it, nor do the pictures augmented from them.

Every export holds a ``.tuitune-export`` marker (JSON: the dataset folder and the time). ``overwrite`` replaces
only a folder holding that marker, and never the dataset folder itself, a folder above it, the home folder or
the filesystem root; anything else stays untouched and the export stops with a sentence. The pictures and
masks come from paths in dataset.json and masks/, each checked to stay inside the dataset folder first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from tuitune import atomic
from tuitune.data.dataset import DATASET_FILE, Dataset, DatasetItem
from tuitune.data.loss_plan import loss_table
from tuitune.data.project_link import set_aside_images
from tuitune.errors import UserError
from tuitune.intent.captions import optimise
from tuitune.intent.spec import IntentSpec
from tuitune.paths import inside

LOSS_FILE = "tuitune_loss.toml"
EXPORT_MARKER = ".tuitune-export"  # in every export: the one kind of folder ``overwrite`` may replace


@dataclass
class ExportReport:
    folder: Path
    images: int = 0
    masks: int = 0
    groups: dict[str, int] = field(default_factory=dict)  # folder name -> images
    left_out: int = 0  # items the project set aside (disabled or held out), with the ones derived from them


def export(
    dataset_dir: str | Path,
    out: str | Path,
    spec: IntentSpec | None = None,
    *,
    include_derived: bool = True,
    overwrite: bool = False,
) -> ExportReport:
    """Write the dataset at ``dataset_dir`` as a training folder at ``out``; see the module docstring."""
    dataset = Dataset(Path(dataset_dir))
    items = [i for i in dataset.items() if include_derived or i.derived_from is None]
    if not items:
        raise UserError(f"{dataset.root} has no images to export; run `tuitune dataset import` first.")
    aside = set_aside_stems(dataset.root, dataset.items())
    kept = [i for i in items if i.stem not in aside]
    if not kept:
        raise UserError(
            f"Every item in {dataset.root.name} is disabled or held out; enable some pictures for training."
        )
    pictures = dataset.pictures(kept)
    masks = {item.stem: _mask_files(dataset, item.stem) for item in kept}
    for item in kept:
        _check_repeats(item)
    target = Path(out).expanduser().resolve()
    _check_target(target, dataset.root, overwrite)
    staging = target.parent / f".{target.name}.partial"
    if staging.exists():
        _check_replaceable(staging, dataset.root, "is in the way of the export")
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    atomic.write_json(staging / EXPORT_MARKER, {"made_by": "tuitune dataset export",
                                                 "dataset": str(dataset.root.resolve()), "time": time.time()})
    report = ExportReport(folder=target, left_out=len(items) - len(kept))
    items = kept
    trigger = spec.trigger_words[0] if spec and spec.trigger_words else ""
    try:
        for item in items:
            group = f"{item.repeats}_{_folder_name(item.group or trigger or 'images')}"
            source = pictures[item.stem]
            dest = staging / group / f"{item.stem}{Path(item.path).suffix.lower()}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(source, dest)
            caption = item.caption
            if spec is not None and item.derived_from is None:
                caption = optimise(caption, spec)  # derived items were captioned when they were made
            atomic.write_text(dest.with_suffix(".txt"), caption + "\n")
            report.images += 1
            report.groups[group] = report.groups.get(group, 0) + 1
            for name, mask in masks[item.stem]:
                mask_dest = staging / "masks" / item.stem / name
                mask_dest.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(mask, mask_dest)
                report.masks += 1
        if spec is not None:
            atomic.write_text(staging / LOSS_FILE, tomli_w.dumps({"loss": loss_table(spec)}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def set_aside_stems(root: Path, items: list[DatasetItem]) -> set[str]:
    """Stems of the ``items`` to leave out of training: set aside in the project, or augmented from one that is."""
    images = set_aside_images(root)
    if not images:
        return set()
    aside = {i.stem for i in items if Path(i.path).as_posix() in images}
    while True:  # a picture augmented from a left-out one is left out too, however many steps removed
        more = {i.stem for i in items if i.derived_from in aside} - aside
        if not more:
            return aside
        aside |= more


def _mask_files(dataset: Dataset, stem: str) -> list[tuple[str, Path]]:
    """The item's mask files (name, resolved file); a link among them leading outside stops the export."""
    folder = dataset.masks_dir / stem
    if not folder.is_dir():
        return []
    return [(mask.name, inside(dataset.root, mask)) for mask in sorted(folder.glob("*.png"))]


def _check_repeats(item: DatasetItem) -> None:
    # The count names the exported folder (N_name/), so it must be a number and nothing else.
    if isinstance(item.repeats, bool) or not isinstance(item.repeats, int) or item.repeats < 1:
        raise UserError(f"{DATASET_FILE} item {item.stem!r} repeats {item.repeats!r} is not a whole number of 1 or "
                        "more; fix that entry and try again.")


def _check_target(target: Path, root: Path, overwrite: bool) -> None:
    """Refuse, touching nothing, an export into a folder it must not replace; see the module docstring."""
    if target.exists() and not target.is_dir():
        raise UserError(f"{target} is a file, not a folder; pick a new folder to export into.")
    if not target.exists() or not any(target.iterdir()):
        _refuse_protected(target, root)
        return
    if not overwrite:
        raise UserError(f"{target} is not empty; pick a new folder or pass --overwrite to replace it.")
    _check_replaceable(target, root, "was not made by `tuitune dataset export`")


def _check_replaceable(folder: Path, root: Path, why: str) -> None:
    """A folder ``export`` may delete: an earlier export (it holds the marker), or an empty folder."""
    _refuse_protected(folder, root)
    if not folder.is_dir() or folder.is_symlink():
        raise UserError(f"{folder} {why} and is not a folder; move it away or pick a new folder.")
    if any(folder.iterdir()) and not _is_export(folder):
        raise UserError(f"{folder} {why} (it has no {EXPORT_MARKER} file), so it is not replaced; pick a new "
                        "folder or empty it yourself.")


def _refuse_protected(folder: Path, root: Path) -> None:
    folder, root = folder.resolve(), Path(root).resolve()
    try:
        home: Path | None = Path.home().resolve()
    except RuntimeError:  # no home folder known
        home = None
    if root.is_relative_to(folder):
        what = "is the dataset folder itself" if folder == root else f"holds the dataset {root}"
        raise UserError(f"{folder} {what}, so the export will not replace it; pick a new folder outside the dataset.")
    if folder == Path(folder.anchor) or (home is not None and home.is_relative_to(folder)):
        raise UserError(f"{folder} is the home folder or above it, so the export will not replace it; "
                        "pick a new folder.")


def _is_export(folder: Path) -> bool:
    try:
        marker = json.loads((folder / EXPORT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("made_by") == "tuitune dataset export"


def _folder_name(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", name).strip(". ") or "images"


def _link_or_copy(source: Path, dest: Path) -> None:
    # A copy, not a link: a tool that edits the exported file in place must not change the dataset.
    shutil.copy2(source, dest)
