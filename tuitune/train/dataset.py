"""The training image folder: images, captions, masks, kohya repeat folders, buckets and batch order.

Each picture passes the same check as a project import (``tuitune.data.importer.read_picture``): a FIFO or
other special file, a link leading outside the folder, an unreadable or too big picture is skipped with its
reason; a caption that is not UTF-8 is read as cp1252/latin-1 with a warning naming the file. A picture that
does not train as its bytes stand (EXIF orientation, 16-bit, transparency, palette) trains from an upright
RGB copy under the upright folder, named by its pixels, so its size, crop and masks are those of the picture
the user sees.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

if TYPE_CHECKING:
    from tuitune.data.images import DecodedImage

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
REPEAT_FOLDER = re.compile(r"^(\d+)_(.+)$")
MAX_PIXELS = 50_000_000  # as a project import: larger pictures are skipped before decoding


@dataclass
class ImageRecord:
    """One training image with its caption, concept masks and how often an epoch shows it."""

    path: Path  # the file training reads: the picture itself, or its upright copy (same name, .png)
    caption: str
    masks: dict[str, Path]
    repeats: int
    size: tuple[int, int]  # (width, height) of the picture, upright

    @property
    def stem(self) -> str:
        return self.path.stem


@dataclass
class DatasetScan:
    """What a folder scan found; ``skipped`` lists files that could not be used, with the reason."""

    records: list[ImageRecord]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def default_upright_folder() -> Path:
    """Where upright copies go unless the caller names a folder: the user's temporary folder."""
    return Path(tempfile.gettempdir()) / f"tuitune-upright-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def scan_folder(folder: Path, masks_folder: Path | None = None, repeats: int = 1,
                upright_folder: Path | None = None, max_pixels: int = MAX_PIXELS) -> DatasetScan:
    """Find images (top level and kohya ``N_name`` folders), their same-stem ``.txt`` captions and masks."""
    from tuitune.data.images import ImageRejected
    from tuitune.data.importer import read_picture
    from tuitune.train.errors import TrainError

    folder = Path(folder)
    if not folder.is_dir():
        raise TrainError(f"Image folder {folder} does not exist; check [data] folder.")
    root = folder.resolve()
    masks_folder = Path(masks_folder) if masks_folder else folder / "masks"
    upright = Path(upright_folder) if upright_folder else default_upright_folder()
    scan = DatasetScan(records=[])
    places: list[tuple[Path, int]] = [(folder, 1)]
    for child in sorted(folder.iterdir()):
        match = REPEAT_FOLDER.match(child.name)
        if child.is_dir() and match:
            if not child.resolve().is_relative_to(root):
                scan.skipped.append((child, f"symlinked folder leads outside the folder ({child.resolve()})"))
                continue
            places.append((child, int(match.group(1))))
    for place, folder_repeats in places:
        for path in sorted(place.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
                continue
            rel = path.relative_to(folder).as_posix()
            try:
                picture = read_picture(path, root, rel, max_pixels=max_pixels, limit_hint=None)
            except ImageRejected as exc:
                scan.skipped.append((path, str(exc)))
                continue
            scan.warnings.extend(picture.warnings)
            if picture.caption_file is None and not picture.caption_warnings:
                scan.warnings.append(f"{rel} has no caption file ({path.with_suffix('.txt').name}); "
                                     "training it with an empty caption.")
            decoded = picture.decoded
            train_path = path if decoded.passthrough else _upright_copy(upright, path.stem, decoded)
            mask_dir = masks_folder / path.stem
            masks = {m.stem: m for m in sorted(mask_dir.glob("*.png"))} if mask_dir.is_dir() else {}
            scan.records.append(ImageRecord(path=train_path, caption=picture.caption, masks=masks,
                                            repeats=folder_repeats * repeats, size=decoded.image.size))
    if not scan.records:
        raise TrainError(f"No usable images in {folder}; add .png/.jpg files (with same-name .txt captions).")
    for path, reason in scan.skipped:
        log.warning("skipped %s: %s", path, reason)
    for warning in scan.warnings:
        log.warning(warning)
    return scan


def _upright_copy(folder: Path, stem: str, decoded: DecodedImage) -> Path:
    """The decoded picture as PNG at ``folder/<pixel hash>/<stem>.png`` (written once; every process of a
    run, and every later run, finds the same file)."""
    from tuitune import atomic

    target = folder / decoded.pixel_hash[:32] / f"{stem}.png"
    if not target.is_file():
        buf = io.BytesIO()
        decoded.image.save(buf, "PNG")
        atomic.write_bytes(target, buf.getvalue())
    return target


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


def summary_line(records: list[ImageRecord], resolution: int, buckets: bool, batch_size: int, steps: int) -> str:
    """What a run trains on, in one line: pictures, repeats, epoch length, buckets, masks, epochs the steps make."""
    from collections import Counter

    per_epoch = sum(r.repeats for r in records)
    sizes = Counter(choose_bucket(r.size, resolution, buckets) for r in records)
    shown = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes.most_common(4))
    if len(sizes) > 4:
        shown += f", {len(sizes) - 4} more"
    masked = sum(1 for r in records if r.masks)
    epochs = steps * batch_size / per_epoch if per_epoch else 0.0
    repeats = sorted({r.repeats for r in records})
    repeat_text = f"repeats {repeats[0]}" if len(repeats) == 1 else f"repeats {repeats[0]}-{repeats[-1]}"
    return (f"{len(records)} pictures ({masked} with masks), {repeat_text}: {per_epoch} images per epoch; "
            f"{len(sizes)} bucket{'s' if len(sizes) != 1 else ''}: {shown}; "
            f"{steps} steps at batch {batch_size} = {epochs:.1f} epochs")
