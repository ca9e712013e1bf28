"""The three small protocols every vision backend implements: Detector, Segmenter, Embedder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the image given, x1/y1 exclusive


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    label: str


@runtime_checkable
class Detector(Protocol):
    def detect(self, image: Image.Image, text: str) -> list[Detection]:
        """Boxes of the things in ``image`` that ``text`` names, best first."""
        ...


@runtime_checkable
class Segmenter(Protocol):
    def segment(self, image: Image.Image, box: Box) -> np.ndarray:
        """A boolean HxW mask (H, W of ``image``) of the object inside ``box``."""
        ...


@runtime_checkable
class Embedder(Protocol):
    def embed_image(self, image: Image.Image) -> np.ndarray:
        """A 1-D float32 vector, L2-normalised."""
        ...

    def embed_text(self, text: str) -> np.ndarray:
        """A 1-D float32 vector in the same space as ``embed_image``, L2-normalised."""
        ...


def crop(image: Image.Image, box: Box) -> Image.Image:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return image.crop((max(0, x0), max(0, y0), min(image.width, x1), min(image.height, y1)))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))
