"""The training image folder: images, captions, masks, kohya repeat folders, buckets and batch order."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
REPEAT_FOLDER = re.compile(r"^(\d+)_(.+)$")


@dataclass
class ImageRecord:
    """One training image with its caption, concept masks and how often an epoch shows it."""

    path: Path
    caption: str
    masks: dict[str, Path]
    repeats: int
    size: tuple[int, int]  # (width, height) of the file

    @property
    def stem(self) -> str:
        return self.path.stem


@dataclass
class DatasetScan:
    """What a folder scan found; ``skipped`` lists files that could not be used, with the reason."""

    records: list[ImageRecord]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def scan_folder(folder: Path, masks_folder: Path | None = None, repeats: int = 1) -> DatasetScan:
    """Find images (top level and kohya ``N_name`` folders), their same-stem ``.txt`` captions and masks."""
    from tuitune.train.errors import TrainError

    folder = Path(folder)
    if not folder.is_dir():
        raise TrainError(f"Image folder {folder} does not exist; check [data] folder.")
    masks_folder = Path(masks_folder) if masks_folder else folder / "masks"
    scan = DatasetScan(records=[])
    places: list[tuple[Path, int]] = [(folder, 1)]
    for child in sorted(folder.iterdir()):
        match = REPEAT_FOLDER.match(child.name)
        if child.is_dir() and match:
            places.append((child, int(match.group(1))))
    for place, folder_repeats in places:
        for path in sorted(place.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            size = _image_size(path, scan)
            if size is None:
                continue
            caption_path = path.with_suffix(".txt")
            if caption_path.exists():
                caption = caption_path.read_text(encoding="utf-8", errors="replace").strip()
            else:
                caption = ""
                scan.warnings.append(f"{path.name} has no caption file ({caption_path.name}); training it with an empty caption.")
            mask_dir = masks_folder / path.stem
            masks = {m.stem: m for m in sorted(mask_dir.glob("*.png"))} if mask_dir.is_dir() else {}
            scan.records.append(ImageRecord(path=path, caption=caption, masks=masks,
                                            repeats=folder_repeats * repeats, size=size))
    if not scan.records:
        raise TrainError(f"No usable images in {folder}; add .png/.jpg files (with same-name .txt captions).")
    for path, reason in scan.skipped:
        log.warning("skipped %s: %s", path, reason)
    for warning in scan.warnings:
        log.warning(warning)
    return scan


def _image_size(path: Path, scan: DatasetScan) -> tuple[int, int] | None:
    if path.stat().st_size == 0:
        scan.skipped.append((path, "the file is empty"))
        return None
    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.load()
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        scan.skipped.append((path, f"not a readable image ({exc})"))
        return None


# --- buckets ---------------------------------------------------------------------------------------------
def bucket_step(resolution: int) -> int:
    """Bucket sides are multiples of this (64 px for real models; smaller for tiny test resolutions)."""
    return max(8, min(64, (resolution // 4) // 8 * 8))


def make_buckets(resolution: int, max_ratio: float = 4.0) -> list[tuple[int, int]]:
    """(width, height) pairs with area at most resolution², sides multiples of ``bucket_step``."""
    step = bucket_step(resolution)
    area = resolution * resolution
    buckets = set()
    width = step
    while width <= resolution * max_ratio:
        height = (area // width) // step * step
        if height >= step and max(width / height, height / width) <= max_ratio:
            buckets.add((width, height))
        width += step
    buckets.add((resolution // step * step, resolution // step * step))
    return sorted(buckets)


def choose_bucket(size: tuple[int, int], resolution: int, buckets: bool) -> tuple[int, int]:
    side = resolution // bucket_step(resolution) * bucket_step(resolution)
    if not buckets:
        return (side, side)
    aspect = math.log(size[0] / size[1])
    return min(make_buckets(resolution), key=lambda b: (abs(math.log(b[0] / b[1]) - aspect), -b[0] * b[1]))


def resize_crop(img: Image.Image, bucket: tuple[int, int], resample: int = Image.BICUBIC
                ) -> tuple[Image.Image, tuple[int, int]]:
    """Scale to cover the bucket, centre-crop; returns the image and the crop's (top, left)."""
    new, (top, left) = cover_size(img.size, bucket), crop_corner(img.size, bucket)
    img = img.resize(new, resample)
    return img.crop((left, top, left + bucket[0], top + bucket[1])), (top, left)


def cover_size(size: tuple[int, int], bucket: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) an image of ``size`` is scaled to so that it covers ``bucket``."""
    scale = max(bucket[0] / size[0], bucket[1] / size[1])
    return (max(bucket[0], round(size[0] * scale)), max(bucket[1], round(size[1] * scale)))


def crop_corner(size: tuple[int, int], bucket: tuple[int, int]) -> tuple[int, int]:
    """(top, left) of the centre crop of the scaled image."""
    new = cover_size(size, bucket)
    return (new[1] - bucket[1]) // 2, (new[0] - bucket[0]) // 2


# --- batch order -----------------------------------------------------------------------------------------
def epoch_batches(buckets: list[tuple[int, int]], repeats: list[int], batch_size: int, seed: int, epoch: int,
                  shuffle: bool = True) -> list[list[int]]:
    """The batches of one epoch, a pure function of (seed, epoch): each batch shares one bucket.

    Being pure is what makes resume exact: the data position is just the step number.
    """
    order = [i for i, r in enumerate(repeats) for _ in range(r)]
    if shuffle:
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = [order[i] for i in torch.randperm(len(order), generator=gen).tolist()]
    by_bucket: dict[tuple[int, int], list[int]] = {}
    for i in order:
        by_bucket.setdefault(buckets[i], []).append(i)
    batches = [items[k:k + batch_size] for items in by_bucket.values() for k in range(0, len(items), batch_size)]
    if shuffle:
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch + 7)
        batches = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
    return batches


@dataclass
class BatchOrder:
    """Maps a global micro-batch number to the record indices in it, across epochs."""

    buckets: list[tuple[int, int]]
    repeats: list[int]
    batch_size: int
    seed: int
    shuffle: bool = True
    _cache: dict[int, list[list[int]]] = field(default_factory=dict)

    def epoch(self, epoch: int) -> list[list[int]]:
        if epoch not in self._cache:
            self._cache = {epoch: epoch_batches(self.buckets, self.repeats, self.batch_size, self.seed, epoch,
                                                self.shuffle)}
        return self._cache[epoch]

    @property
    def per_epoch(self) -> int:
        return len(self.epoch(0))

    def batch(self, number: int) -> tuple[int, list[int]]:
        """(epoch, record indices) of micro-batch ``number``."""
        per = self.per_epoch
        epoch = number // per
        return epoch, self.epoch(epoch)[number % per]
