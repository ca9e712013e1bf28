"""Toyworld pictures with defects and their exact masks: corner marks, speckle and a wrongly coloured part.

The critic learns from these. Pictures are softened the way the toyworld model's samples are (blur, a little
noise), so what it learns on clean renders carries over to what the model draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tuitune.toyworld.world import (
    PALETTE,
    SHAPE_COLOURS,
    SIZE,
    WATERMARK_MARGIN,
    WATERMARK_SIZE,
    WorldSampler,
)

DEFECTS = ("watermark", "corner_mark", "speckle", "wrong_colour")


@dataclass
class DefectPicture:
    """One picture (H, W, 3 floats in [0, 1]), its defect mask (H, W bool) and which defects it holds."""

    image: np.ndarray
    mask: np.ndarray
    defects: tuple[str, ...]


def corner_box(corner: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a watermark-sized box in corner 0..3 (top-left, top-right, bottom-left, bottom-right)."""
    w, h = WATERMARK_SIZE
    x0 = WATERMARK_MARGIN if corner in (0, 2) else SIZE - WATERMARK_MARGIN - w
    y0 = WATERMARK_MARGIN if corner in (0, 1) else SIZE - WATERMARK_MARGIN - h
    return x0, y0, x0 + w, y0 + h


def defective_picture(seed: int, rate: float = 0.35) -> DefectPicture:
    """A seeded toyworld scene with each kind of defect added with probability ``rate``."""
    rng = np.random.default_rng(seed)
    rendered = WorldSampler(seed=seed, watermark_rate=rate).sample()
    pixels = np.asarray(rendered.image, dtype=np.float32) / 255.0
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    found: list[str] = []
    if rendered.watermark_mask is not None:
        mask |= rendered.watermark_mask
        found.append("watermark")
    if rng.random() < rate:
        x0, y0, x1, y1 = corner_box(int(rng.integers(0, 3)))  # the other corners; bottom-right is the world's
        under = pixels[y0:y1, x0:x1].mean()
        pixels[y0:y1, x0:x1] = 0.06 if under > 0.45 else 0.96
        mask[y0:y1, x0:x1] = True
        found.append("corner_mark")
    if rng.random() < rate:
        cy, cx, r = rng.uniform(8, SIZE - 8), rng.uniform(8, SIZE - 8), rng.uniform(4, 8)
        yy, xx = np.mgrid[:SIZE, :SIZE]
        spots = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) & (rng.random((SIZE, SIZE)) < 0.45)
        pixels[spots] = rng.random((int(spots.sum()), 3))
        mask |= spots
        found.append("speckle")
    if rendered.object_masks and rng.random() < rate:
        obj = rendered.scene.objects[0]
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[:SIZE, :SIZE]
        side = (xx - obj.cx) * np.cos(angle) + (yy - obj.cy) * np.sin(angle) > rng.uniform(-0.3, 0.5) * obj.radius
        part = rendered.object_masks[0] & side
        if part.sum() >= 12:
            other = [c for c in SHAPE_COLOURS if c != obj.colour and c not in rendered.scene.background]
            pixels[part] = np.asarray(PALETTE[str(rng.choice(other))], dtype=np.float32) / 255.0
            mask |= part
            found.append("wrong_colour")
    return DefectPicture(_soften(pixels, rng), mask, tuple(found))


def _soften(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(0.0, 1.6)
    if sigma > 0.3:
        pixels = cv2.GaussianBlur(pixels, (0, 0), sigma)
    pixels = pixels * rng.uniform(0.92, 1.05) + rng.normal(0, rng.uniform(0, 0.03), pixels.shape)
    return np.clip(pixels, 0.0, 1.0).astype(np.float32)


def batch(seeds: range | list[int], rate: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, H, W) and masks (N, H, W) of ``defective_picture`` for each seed."""
    pictures = [defective_picture(s, rate) for s in seeds]
    images = np.stack([p.image.transpose(2, 0, 1) for p in pictures])
    return images, np.stack([p.mask for p in pictures])
