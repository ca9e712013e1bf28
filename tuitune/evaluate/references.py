"""Reference crops for keep concepts: the intent's numbered regions, else training masks, else detections."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tuitune.data.dataset import Dataset, concept_filename
from tuitune.evaluate.crops import context_crop
from tuitune.intent.regions import Region
from tuitune.intent.spec import Concept
from tuitune.vision.protocols import Detector

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def training_images(folder: Path) -> list[Path]:
    """The images of a training folder: top level and kohya ``N_name/`` folders, never the masks."""
    if not folder.is_dir():
        return []
    found = []
    for child in sorted(folder.iterdir()):
        if child.is_dir() and child.name != "masks":
            found += [p for p in sorted(child.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        elif child.suffix.lower() in IMAGE_SUFFIXES:
            found.append(child)
    return found


def references_from_masks(
    images_folder: Path, masks_folder: Path, concepts: Iterable[Concept], limit: int = 8
) -> dict[str, list[Image.Image]]:
    """Crops of each concept's mask bounding box in the training images (``masks/<stem>/<name>.png``)."""
    refs: dict[str, list[Image.Image]] = {}
    images = {p.stem: p for p in training_images(Path(images_folder))}
    for concept in concepts:
        crops: list[Image.Image] = []
        for stem, image_path in images.items():
            mask_path = Path(masks_folder) / stem / f"{concept_filename(concept.name)}.png"
            if not mask_path.is_file():
                continue
            with Image.open(mask_path) as m:
                mask = np.asarray(m.convert("L")) > 127
            if not mask.any():
                continue
            ys, xs = np.nonzero(mask)
            with Image.open(image_path) as im:
                image = im.convert("RGB")
            if image.size != (mask.shape[1], mask.shape[0]):
                image = image.resize((mask.shape[1], mask.shape[0]))
            crops.append(context_crop(image, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))))
            if len(crops) >= limit:
                break
        if crops:
            refs[concept.name] = crops
    return refs


def references_from_instances(
    project_root: Path, concepts: Iterable[Concept], limit: int = 8
) -> dict[str, list[Image.Image]]:
    """Crops of each concept's accepted instances in the project (masks.json): the pictures the reference
    filter or the user kept as showing the concept, so "keep" has references without numbered regions."""
    dataset = Dataset(Path(project_root))
    index = dataset.masks_index()
    # Checked: a picture named in dataset.json is read only when it lies inside the project.
    paths = dataset.pictures(dataset.items())
    refs: dict[str, list[Image.Image]] = {}
    for concept in concepts:
        crops: list[Image.Image] = []
        for stem, entries in sorted(index.items()):
            entry = entries.get(concept.name) if isinstance(entries, dict) else None
            image_path = paths.get(stem)
            if not isinstance(entry, dict) or image_path is None or not image_path.is_file():
                continue
            boxes = [inst.get("box") for inst in entry.get("instances", [])
                     if isinstance(inst, dict) and inst.get("accepted") and inst.get("source") is None]
            boxes = [b for b in boxes if isinstance(b, list | tuple) and len(b) == 4]
            if not boxes:
                continue
            with Image.open(image_path) as im:
                image = im.convert("RGB")
            crops.append(context_crop(image, tuple(float(v) for v in boxes[0])))
            if len(crops) >= limit:
                break
        if crops:
            refs[concept.name] = crops
    return refs


def references_from_regions(regions: Sequence[Region], concepts: Iterable[Concept]) -> dict[str, list[Image.Image]]:
    """Crops of the numbered regions each concept points at; from the intent's numbered regions."""
    by_number = {int(r.number): r for r in regions}
    refs: dict[str, list[Image.Image]] = {}
    for concept in concepts:
        crops = []
        for number in concept.references:
            region = by_number.get(number)
            if region is None or not Path(region.image).is_file():
                continue
            with Image.open(region.image) as im:
                crops.append(context_crop(im.convert("RGB"), region.box))
        if crops:
            refs[concept.name] = crops
    return refs


def references_from_detection(
    images_folder: Path, concepts: Iterable[Concept], detector: Detector, threshold: float = 0.25, limit: int = 8
) -> dict[str, list[Image.Image]]:
    """Crops of each concept where the detector finds it in the training images (no masks or regions needed)."""
    from tuitune.evaluate.prompts import detection_query

    images = training_images(Path(images_folder))
    refs: dict[str, list[Image.Image]] = {}
    for concept in concepts:
        crops: list[Image.Image] = []
        for path in images:
            with Image.open(path) as im:
                image = im.convert("RGB")
            hits = [d for d in detector.detect(image, detection_query(concept)) if d.score >= threshold]
            if hits:
                crops.append(context_crop(image, hits[0].box))
            if len(crops) >= limit:
                break
        if crops:
            refs[concept.name] = crops
    return refs


def resolve_references(
    concepts: Sequence[Concept],
    images_folder: Path,
    masks_folder: Path,
    regions: Sequence[Region] = (),
    detector: Detector | None = None,
    threshold: float = 0.25,
    project_root: Path | None = None,
) -> tuple[dict[str, list[Image.Image]], dict[str, str]]:
    """Reference crops per concept and where they came from, best source first: the intent's numbered
    regions the concept points at, then the training masks named after it, then detection in the training
    images, then (for a project's run) the project's accepted instances of it, then detection in the training
    images. Returns ``(references, source)``; a concept with no source is absent from both."""
    refs: dict[str, list[Image.Image]] = {}
    source: dict[str, str] = {}
    steps: list[tuple[str, Callable[[list[Concept]], dict[str, list[Image.Image]]]]] = [
        ("intent regions", lambda todo: references_from_regions(regions, todo)),
        ("training masks", lambda todo: references_from_masks(images_folder, masks_folder, todo)),
    ]
    if project_root is not None:
        steps.append(("the project's accepted instances",
                      lambda todo: references_from_instances(project_root, todo)))
    if detector is not None:
        steps.append(("detected in training images",
                      lambda todo: references_from_detection(images_folder, todo, detector, threshold)))
    for label, find in steps:
        todo = [c for c in concepts if c.name not in refs]
        if not todo:
            break
        for name, crops in find(todo).items():
            refs[name] = crops
            source[name] = label
    return refs, source
