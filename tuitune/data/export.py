"""Export the dataset as a kohya-style folder any trainer reads: ``N_name/`` images + ``.txt``, ``masks/``, loss.

Written into a hidden sibling folder first and renamed into place at the end, so an interrupted export never
leaves a folder that looks complete. Pictures the project sets aside (disabled, or held out of the ``train``
split) never reach it, nor do the pictures augmented from them.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from tuitune import atomic
from tuitune.cli import UserError
from tuitune.data.dataset import Dataset, DatasetItem
from tuitune.data.loss_plan import loss_table
from tuitune.data.project_link import set_aside_images
from tuitune.intent.captions import optimise
from tuitune.intent.spec import IntentSpec

LOSS_FILE = "tuitune_loss.toml"


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
    target = Path(out).expanduser().resolve()
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise UserError(f"{target} is not empty; pick a new folder or pass --overwrite to replace it.")
    staging = target.parent / f".{target.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    report = ExportReport(folder=target, left_out=len(items) - len(kept))
    items = kept
    trigger = spec.trigger_words[0] if spec and spec.trigger_words else ""
    try:
        for item in items:
            group = f"{item.repeats}_{_folder_name(item.group or trigger or 'images')}"
            source = dataset.root / item.path
            dest = staging / group / f"{item.stem}{source.suffix.lower()}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(source, dest)
            caption = item.caption
            if spec is not None and item.derived_from is None:
                caption = optimise(caption, spec)  # derived items were captioned when they were made
            atomic.write_text(dest.with_suffix(".txt"), caption + "\n")
            report.images += 1
            report.groups[group] = report.groups.get(group, 0) + 1
            mask_dir = dataset.masks_dir / item.stem
            if mask_dir.is_dir():
                for mask in sorted(mask_dir.glob("*.png")):
                    mask_dest = staging / "masks" / item.stem / mask.name
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


def _folder_name(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", name).strip(". ") or "images"


def _link_or_copy(source: Path, dest: Path) -> None:
    # A copy, not a link: a tool that edits the exported file in place must not change the dataset.
    shutil.copy2(source, dest)
