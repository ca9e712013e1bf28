"""``tuitune show IMAGE...``: print images in a plain terminal with term-image, one after another."""

from __future__ import annotations

import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path


def show_images(images: Sequence[str], width: int | None = None) -> int:
    """Print each image, ``width`` columns wide (default: fit the terminal); exit code 1 when one cannot be read."""
    from tuitune.errors import UserError

    missing = [p for p in images if not Path(p).is_file()]
    if missing:
        raise UserError(f"no such image file: {missing[0]}; check the path and try again.")
    with warnings.catch_warnings():
        # term-image warns when stdout is not a terminal; it still prints block characters then.
        warnings.simplefilter("ignore")
        from PIL import Image, UnidentifiedImageError
        from term_image.image import AutoImage, BlockImage

    columns = width or max(10, shutil.get_terminal_size((80, 24)).columns - 1)
    failed = 0
    for name in images:
        try:
            with Image.open(name) as pil:
                pil.load()
                picture = pil.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            print(f"tuitune: cannot read {name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        factory = AutoImage if sys.stdout.isatty() else BlockImage
        image = factory(picture)
        image.set_size(width=min(columns, max(1, picture.width)))
        print(name)
        print(f"{image:1.1}")
    return 1 if failed else 0
