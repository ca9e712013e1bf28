"""Thumbnail speed: tuitune's cached thumbnails vs a naive open+resize, on the same pictures in the same run.

    python benchmarks/thumbnails.py [--count 200] [--size 1536x1024]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tuitune.data import thumbnails


def make_photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    rng = np.random.default_rng(0)
    # Smooth noise compresses like a photo; pure noise would make JPEG decoding unrealistically slow.
    base = rng.integers(0, 255, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    paths = []
    for i in range(count):
        im = Image.fromarray(np.roll(base, i, axis=1), "RGB").resize(size, Image.Resampling.BICUBIC)
        path = folder / f"photo{i:04d}.jpg"
        im.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def naive(paths: list[Path], out: Path, size: int) -> float:
    start = time.perf_counter()
    for path in paths:
        with Image.open(path) as im:
            small = im.convert("RGB").resize((size, size * im.height // im.width), Image.Resampling.BICUBIC)
            small.save(out / f"{path.stem}.jpg", "JPEG", quality=85)
    return time.perf_counter() - start


def ours(paths: list[Path], out: Path, size: int) -> float:
    start = time.perf_counter()
    failed = sum(1 for _, thumb in thumbnails.cached_many(paths, out, size) if thumb is None)
    elapsed = time.perf_counter() - start
    assert failed == 0, f"{failed} thumbnails failed"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", default="1536x1024", help="WIDTHxHEIGHT of the test photos")
    parser.add_argument("--thumb", type=int, default=thumbnails.DEFAULT_SIZE)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        (root / "naive").mkdir()
        paths = make_photos(root / "src", args.count, (width, height))
        base = naive(paths, root / "naive", args.thumb)
        fast = ours(paths, root / "cache", args.thumb)
        again = ours(paths, root / "cache", args.thumb)
    print(f"{args.count} JPEG photos {width}x{height} -> {args.thumb}px thumbnails")
    print(f"naive open+resize : {args.count / base:8.1f} images/s")
    print(f"tuitune thumbnails: {args.count / fast:8.1f} images/s  ({base / fast:.1f}x the naive baseline)")
    print(f"tuitune, cached   : {args.count / again:8.1f} images/s  ({base / again:.1f}x)")


if __name__ == "__main__":
    main()
