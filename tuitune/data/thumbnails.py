"""Cached thumbnails: decode at reduced scale (JPEG draft, Image.reduce) so a big folder previews quickly."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps

from tuitune import atomic

DEFAULT_SIZE = 256


def shrink(image: Image.Image, size: int = DEFAULT_SIZE) -> Image.Image:
    """A copy of ``image`` fitting in ``size``x``size``; integer reduce first, a smooth resize last."""
    factor = max(1, min(image.width, image.height) // size, max(image.width, image.height) // size)
    if factor > 1:
        image = image.reduce(factor)
    image = image.copy()
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    return image


def render(path: Path, size: int = DEFAULT_SIZE) -> Image.Image:
    """Open ``path`` and return its RGB thumbnail, decoding no more pixels than needed."""
    with Image.open(path) as im:
        if im.format == "JPEG":
            # draft() makes libjpeg decode at 1/2, 1/4 or 1/8 scale directly: the big win.
            im.draft("RGB", (size, size))
        im = ImageOps.exif_transpose(im)
        small = shrink(im, size)
    return small.convert("RGB")


def cache_key(path: Path, size: int) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{size}".encode()).hexdigest()[:20]


def cached(path: Path, cache_dir: Path, size: int = DEFAULT_SIZE) -> Path:
    """The thumbnail file for ``path`` in ``cache_dir``, made now if missing or stale."""
    target = cache_dir / f"{cache_key(path, size)}.jpg"
    if not target.exists():
        save(render(path, size), target)
    return target


def save(image: Image.Image, target: Path) -> None:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    atomic.write_bytes(target, buf.getvalue())


def cached_many(
    paths: Iterable[Path], cache_dir: Path, size: int = DEFAULT_SIZE, workers: int | None = None
) -> Iterator[tuple[Path, Path | None]]:
    """``(source, thumbnail)`` pairs as they finish; thumbnail is None for a file that cannot be read.

    Pillow releases the GIL while decoding, so threads use every core without pickling images.
    """
    workers = workers or min(4, os.cpu_count() or 1)

    def one(path: Path) -> tuple[Path, Path | None]:
        try:
            return path, cached(path, cache_dir, size)
        except (OSError, ValueError, SyntaxError):
            return path, None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(one, paths)
