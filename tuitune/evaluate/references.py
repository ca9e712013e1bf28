"""Reference regions for keep concepts: numbered regions from the intent, else the training masks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tuitune.intent.regions import Region
from tuitune.intent.spec import Concept

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def references_from_masks(
    images_folder: Path, masks_folder: Path, concepts: Iterable[Concept], limit: int = 8
) -> dict[str, list[Image.Image]]:
    """Crops of each concept's mask bounding box in the training images (``masks/<stem>/<name>.png``)."""
    refs: dict[str, list[Image.Image]] = {}
    images = {p.stem: p for p in sorted(Path(images_folder).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES} \
        if Path(images_folder).is_dir() else {}
    for concept in concepts:
        crops: list[Image.Image] = []
        for stem, image_path in images.items():
            mask_path = Path(masks_folder) / stem / f"{concept.name}.png"
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
            crops.append(image.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)))
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
                x0, y0, x1, y1 = (int(round(v)) for v in region.box)
                crops.append(im.convert("RGB").crop((x0, y0, x1, y1)))
        if crops:
            refs[concept.name] = crops
    return refs
