"""Augment by operation, seeded: keep -> concept-centred crops; modify -> colour variations inside the mask with the
caption naming the new value; delete -> the region inpainted (OpenCV Telea): the inpainted copy no longer shows the
concept, so it carries no mask of it and the fill is learned with the pixels around it (``learn_fill``; off, the
copy keeps the mask and the loss plan's zero weight there).

Derived items are written under ``derived/`` with their masks and provenance; running again replaces them.
Stems and paths read from dataset.json are checked (``tuitune.paths``) first: removing the previous derived
items deletes only files under ``derived/`` and ``masks/``, never a path an entry makes up.
"""

from __future__ import annotations

import colorsys
import io
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageColor

from tuitune import atomic
from tuitune.data.concepts import load_mask
from tuitune.data.dataset import DATASET_FILE, Dataset, DatasetItem, concept_filename
from tuitune.intent.captions import optimise
from tuitune.intent.spec import Concept, IntentSpec, Operation
from tuitune.paths import inside


@dataclass
class AugmentSettings:
    seed: int = 0
    keep_crops: int = 2  # per item and kept concept
    modify_variations: int = 2  # per item and modified concept (at most one per alternative)
    delete_inpaint: bool = True
    # The inpainted copy is a picture without the concept: learning its fill teaches that the trigger comes without
    # it (on the toyworld sample it took the watermark in trigger samples from 6-17% to 0-6%, single seeds).
    learn_fill: bool = True
    crop_scale: tuple[float, float] = (1.6, 3.0)  # crop side as a multiple of the concept's box side
    inpaint_radius: int = 3


def augment(
    dataset_dir: str | Path,
    spec: IntentSpec,
    settings: AugmentSettings | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[DatasetItem]:
    """Write the derived items for ``spec`` and return them (the dataset's item list is updated)."""
    settings = settings or AugmentSettings()
    dataset = Dataset(Path(dataset_dir))
    originals = [i for i in dataset.items() if i.derived_from is None]
    pictures = dataset.pictures(originals)  # every item checked before anything is removed or written
    _remove_previous(dataset)
    derived: list[DatasetItem] = []
    for n, item in enumerate(originals, start=1):
        image = Image.open(pictures[item.stem]).convert("RGB")
        shape = (image.height, image.width)
        masks = {c.name: m for c in spec.concepts if (m := load_mask(dataset, item.stem, c.name, shape)) is not None}
        for concept in spec.concepts:
            mask = masks.get(concept.name)
            if mask is None or not mask.any():
                continue
            rng = np.random.default_rng([settings.seed, zlib.crc32(f"{item.stem}|{concept.key}".encode())])
            if concept.operation is Operation.KEEP:
                made = _keep_crops(dataset, item, image, masks, concept, spec, rng, settings)
            elif concept.operation is Operation.MODIFY:
                made = _modify_colours(dataset, item, image, masks, concept, spec, rng, settings)
            elif settings.delete_inpaint:
                made = _delete_inpaint(dataset, item, image, masks, concept, spec, settings)
            else:
                made = []
            derived.extend(made)
        if progress is not None:
            progress(n, len(originals), item.stem)
    # Applied to dataset.json as it is now: captions edited and pictures imported during the run are kept,
    # and nothing is added for a picture removed meanwhile.
    def add_derived(current: list[DatasetItem]) -> list[DatasetItem]:
        kept = [i for i in current if i.derived_from is None]
        parents = {i.stem for i in kept}
        return kept + [d for d in derived if d.derived_from in parents]

    dataset.update_items(add_derived)
    return derived


def _keep_crops(dataset: Dataset, item: DatasetItem, image: Image.Image, masks: dict[str, np.ndarray],
                concept: Concept, spec: IntentSpec, rng: np.random.Generator, s: AugmentSettings) -> list[DatasetItem]:
    ys, xs = np.nonzero(masks[concept.name])
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    cx, cy, side0 = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    if side0 >= 0.9 * min(image.size):
        return []  # the concept fills the picture: every crop centred on it would be the picture again
    out = []
    for i in range(s.keep_crops):
        side = int(min(min(image.size), max(8, side0 * rng.uniform(*s.crop_scale))))
        # A little jitter so the crops differ, while the concept stays whole inside each.
        jx, jy = rng.uniform(-0.15, 0.15, size=2) * side
        left = int(np.clip(cx + jx - side / 2, 0, image.width - side))
        top = int(np.clip(cy + jy - side / 2, 0, image.height - side))
        box = (left, top, left + side, top + side)
        size = (item.width, item.height) if item.width == item.height else (side, side)
        picture = image.crop(box).resize(size, Image.Resampling.LANCZOS)
        crop_masks = {name: _resize_mask(m[top:top + side, left:left + side], size) for name, m in masks.items()}
        caption = optimise(item.caption, spec)
        out.append(_write(dataset, item, f"keep-{concept_filename(concept.name)}-{i}", picture, crop_masks, caption,
                          {"operation": "keep", "concept": concept.name, "crop": list(box), "seed": s.seed}))
    return out


def _modify_colours(dataset: Dataset, item: DatasetItem, image: Image.Image, masks: dict[str, np.ndarray],
                    concept: Concept, spec: IntentSpec, rng: np.random.Generator,
                    s: AugmentSettings) -> list[DatasetItem]:
    targets = [v for v in concept.alternatives if _colour(v) is not None and v.casefold() != (concept.value or "").casefold()]
    if not targets:
        return []
    order = rng.permutation(len(targets))[: s.modify_variations]
    mask = masks[concept.name]
    out = []
    for rank, idx in enumerate(order):
        value = targets[int(idx)]
        picture = recolour(image, mask, _colour(value))  # type: ignore[arg-type]
        caption = optimise(item.caption, spec, {concept.name: value})
        out.append(_write(dataset, item, f"modify-{concept_filename(concept.name)}-{rank}", picture, masks, caption,
                          {"operation": "modify", "concept": concept.name, "value": value, "seed": s.seed}))
    return out


def recolour(image: Image.Image, mask: np.ndarray, target: tuple[int, int, int]) -> Image.Image:
    """Give the masked pixels the target colour's hue (and its saturation when it is a grey), keeping shading."""
    hsv = np.asarray(image.convert("HSV"), dtype=np.float32)
    th, ts, _ = colorsys.rgb_to_hsv(*(c / 255.0 for c in target))
    out = hsv.copy()
    out[..., 0][mask] = th * 255.0
    if ts < 0.15:
        out[..., 1][mask] = ts * 255.0
    else:
        # Hue alone cannot make a grey pixel coloured: lift its saturation towards the target's.
        out[..., 1][mask] = np.maximum(out[..., 1][mask], ts * 255.0 * 0.8)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "HSV").convert("RGB")


def _delete_inpaint(dataset: Dataset, item: DatasetItem, image: Image.Image, masks: dict[str, np.ndarray],
                    concept: Concept, spec: IntentSpec, s: AugmentSettings) -> list[DatasetItem]:
    import cv2

    region = masks[concept.name].astype(np.uint8) * 255
    # Grow the hole a little: edges of the concept blend into their neighbours after resampling.
    region = cv2.dilate(region, np.ones((3, 3), np.uint8), iterations=1)
    bgr = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    filled = cv2.inpaint(bgr, region, s.inpaint_radius, cv2.INPAINT_TELEA)
    picture = Image.fromarray(cv2.cvtColor(filled, cv2.COLOR_BGR2RGB))
    caption = optimise(item.caption, spec)
    if s.learn_fill:  # the concept is gone from this copy, and so is its mask
        masks = {name: mask for name, mask in masks.items() if name != concept.name}
    return [_write(dataset, item, f"delete-{concept_filename(concept.name)}", picture, masks, caption,
                   {"operation": "delete", "concept": concept.name, "inpaint": "opencv-telea",
                    "radius": s.inpaint_radius})]


def _write(dataset: Dataset, parent: DatasetItem, suffix: str, picture: Image.Image, masks: dict[str, np.ndarray],
           caption: str, provenance: dict[str, Any]) -> DatasetItem:
    stem = f"{parent.stem}__{suffix}".replace(" ", "_")
    path = inside(dataset.root, dataset.derived_dir / f"{stem}.png", follow_links=False)
    atomic.write_bytes(path, _png(picture))
    for name, mask in masks.items():
        atomic.write_bytes(dataset.mask_path(stem, name), _png(Image.fromarray(np.where(mask, 255, 0).astype(np.uint8))))
    return DatasetItem(
        stem=stem, path=path.relative_to(dataset.root).as_posix(), caption=caption, repeats=parent.repeats,
        width=picture.width, height=picture.height, hash="", source=parent.stem, group=parent.group,
        derived_from=parent.stem, provenance=provenance,
    )


def _remove_previous(dataset: Dataset) -> None:
    """Drop the derived items from dataset.json first, then their files, so it never lists a missing file."""
    gone: list[Path] = []

    def drop(current: list[DatasetItem]) -> list[DatasetItem]:
        # Checked before dataset.json changes: a crafted entry stops the run with nothing removed.
        derived = [i for i in current if i.derived_from is not None]
        dataset.pictures(derived)
        originals = {i.stem for i in current if i.derived_from is None}
        gone[:] = [f for i in derived if (f := _derived_file(dataset, i)) is not None]
        gone.extend(inside(dataset.root, dataset.masks_dir / i.stem, follow_links=False)
                    for i in derived if i.stem not in originals)  # an original's masks stay, whatever names them
        return [i for i in current if i.derived_from is None]

    dataset.update_items(drop)
    for path in gone:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _derived_file(dataset: Dataset, item: DatasetItem) -> Path | None:
    """The derived item's picture to remove: only a file under ``derived/``, never another one it names."""
    path = inside(dataset.root, item.path, f"{DATASET_FILE} item {item.stem!r} path", follow_links=False)
    return path if path.parent.resolve().is_relative_to(dataset.derived_dir.resolve()) else None


def _colour(name: str) -> tuple[int, int, int] | None:
    try:
        rgb = ImageColor.getrgb(name.replace(" ", ""))
    except ValueError:
        return None
    return rgb[0], rgb[1], rgb[2]


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST))


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()
