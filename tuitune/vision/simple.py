"""Backends that need no weights: the whole picture as one box, the box as its mask, a colour histogram vector."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tuitune.vision.protocols import Box, Detection


class WholeImageDetector:
    """For imagery concepts (style, lighting): the concept is everywhere."""

    def __init__(self, **_: object) -> None:
        pass

    def detect(self, image: Image.Image, text: str) -> list[Detection]:
        return [Detection(box=(0.0, 0.0, float(image.width), float(image.height)), score=1.0, label=text)]


class BoxSegmenter:
    """The box itself as the mask: coarse, but right for rectangular things such as watermarks and captions."""

    def __init__(self, **_: object) -> None:
        pass

    def segment(self, image: Image.Image, box: Box) -> np.ndarray:
        from tuitune.vision.sam import box_mask

        return box_mask((image.height, image.width), box)


class HistogramEmbedder:
    """A joint RGB histogram of the coloured pixels: instances of one colour land close together.

    Near-grey pixels (plain backgrounds, and the grey the concept pipeline paints outside a mask) do not vote
    unless the picture has nothing else. Text is not supported.
    """

    def __init__(self, bins: int = 6, min_chroma: int = 40, **_: object) -> None:
        self.bins = bins
        self.min_chroma = min_chroma

    def embed_image(self, image: Image.Image) -> np.ndarray:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int64).reshape(-1, 3)
        coloured = rgb[(rgb.max(axis=1) - rgb.min(axis=1)) >= self.min_chroma]
        arr = (coloured if len(coloured) else rgb) * self.bins // 256
        idx = (arr[:, 0] * self.bins + arr[:, 1]) * self.bins + arr[:, 2]
        hist = np.bincount(idx, minlength=self.bins**3).astype(np.float32)
        norm = float(np.linalg.norm(hist))
        return hist / norm if norm else hist

    def embed_text(self, text: str) -> np.ndarray:
        raise NotImplementedError("the colour-histogram embedder compares pictures only; use reference regions")
