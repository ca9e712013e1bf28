"""Crops of a concept's region with a margin of context, so an embedder sees the concept's outline."""

from __future__ import annotations

from PIL import Image

from tuitune.vision.protocols import Box, crop

# A tight box cuts a ring's outer edge and leaves little background: it reads as a disc of the ring's colour.
CONTEXT_MARGIN = 0.15


def context_box(box: Box, size: tuple[int, int], margin: float = CONTEXT_MARGIN) -> Box:
    """``box`` grown by ``margin`` of its width/height on every side, kept inside an image of ``size``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return max(0.0, x0 - dx), max(0.0, y0 - dy), min(float(size[0]), x1 + dx), min(float(size[1]), y1 + dy)


def context_crop(image: Image.Image, box: Box, margin: float = CONTEXT_MARGIN) -> Image.Image:
    """The region in ``box`` with some of its surroundings (see ``context_box``)."""
    return crop(image, context_box(box, image.size, margin))
