"""Reads a toyworld picture from its pixels: background colours, objects (colour, shape, box, mask), marks."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from tuitune.toyworld.world import NEUTRAL_COLOURS, PALETTE, SHAPES

COLOUR_NAMES = tuple(PALETTE)
_PALETTE_RGB = np.array([PALETTE[c] for c in COLOUR_NAMES], dtype=np.float32)
_NEUTRAL = {COLOUR_NAMES.index(c) for c in NEUTRAL_COLOURS}

# Shape prototypes in (extent, solidity, hole ratio): extent = area / box area, solidity = area / hull
# area, hole ratio = filled area / area. Measured on generator drawings; hole ratio is weighted up
# because it is the only thing telling a ring from a circle.
_PROTOTYPES = {
    "circle": (0.79, 0.97, 1.0),
    "square": (0.98, 0.99, 1.0),
    "triangle": (0.52, 0.96, 1.0),
    "star": (0.40, 0.57, 1.0),
    "ring": (0.78, 0.97, 1.30),
}
_FEATURE_SCALE = np.array([0.12, 0.12, 0.08], dtype=np.float32)


@dataclass
class FoundObject:
    """One thing found in a picture. ``shape`` is "watermark" for a small mark in a corner."""

    colour: str
    shape: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1, x1/y1 exclusive
    mask: np.ndarray = field(repr=False)
    area: int = 0
    shape_scores: dict[str, float] = field(default_factory=dict, repr=False)
    colour_shares: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def is_watermark(self) -> bool:
        return self.shape == "watermark"

    @property
    def confidence(self) -> float:
        return self.shape_scores.get(self.shape, 1.0) if not self.is_watermark else 1.0


@dataclass
class SceneReading:
    """Everything the analysis found in one picture."""

    width: int
    height: int
    background: list[str]  # one or two colour names, most common first
    background_shares: dict[str, float]
    background_mask: np.ndarray = field(repr=False)
    objects: list[FoundObject] = field(default_factory=list)  # largest first
    marks: list[FoundObject] = field(default_factory=list)  # watermarks

    @property
    def found(self) -> list[FoundObject]:
        return self.objects + self.marks


def colour_labels(pixels: np.ndarray) -> np.ndarray:
    """Index into ``COLOUR_NAMES`` of the nearest palette colour of every pixel."""
    flat = pixels.reshape(-1, 3).astype(np.float32)
    dist = ((flat[:, None, :] - _PALETTE_RGB[None, :, :]) ** 2).sum(-1)
    return dist.argmin(1).reshape(pixels.shape[:2])


def shape_features(mask: np.ndarray) -> tuple[float, float, float]:
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(m)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    area, filled_area = float(m.sum()), float(filled.sum())
    ys, xs = np.nonzero(filled)
    box_area = float((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1))
    points = np.concatenate([c.reshape(-1, 2) for c in contours])
    # Pixel-centre hulls undercount a pixel blob by about half its perimeter; add it back.
    hull = cv2.convexHull(points)
    hull_area = cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0
    return filled_area / box_area, min(1.0, filled_area / hull_area), filled_area / max(area, 1.0)


def shape_scores(features: tuple[float, float, float]) -> dict[str, float]:
    """Soft assignment of a blob to the toyworld's shapes (sums to 1)."""
    f = np.array(features, dtype=np.float32)
    names = list(_PROTOTYPES)
    protos = np.array([_PROTOTYPES[n] for n in names], dtype=np.float32)
    d2 = (((f[None, :] - protos) / _FEATURE_SCALE) ** 2).sum(1)
    w = np.exp(-0.5 * (d2 - d2.min()))
    return {n: float(v) for n, v in zip(names, w / w.sum(), strict=True)}


def _border_labels(labels: np.ndarray) -> np.ndarray:
    return np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])


def _background_map(labels: np.ndarray, bg: list[int]) -> np.ndarray:
    """The background colour expected at every pixel: one colour, or two halves split either way."""
    if len(bg) == 1:
        return np.full(labels.shape, bg[0])
    a, b = bg
    # Each column takes the colour its top and bottom pixels agree on (left/right split); each row the
    # colour its end pixels agree on (top/bottom split); keep the split that explains more pixels.
    cols = np.where((labels[0] == b) & (labels[-1] == b), b, a)
    rows = np.where((labels[:, 0] == b) & (labels[:, -1] == b), b, a)
    vertical = np.broadcast_to(cols[None, :], labels.shape)
    horizontal = np.broadcast_to(rows[:, None], labels.shape)
    if (vertical == labels).sum() >= (horizontal == labels).sum():
        return vertical
    return horizontal


def _is_corner_mark(box: tuple[int, int, int, int], area: int, colour_index: int, w: int, h: int) -> bool:
    x0, y0, x1, y1 = box
    in_corner_x = x0 >= 0.62 * w or x1 <= 0.38 * w
    in_corner_y = y0 >= 0.72 * h or y1 <= 0.28 * h
    small = area <= 0.035 * w * h and (x1 - x0) <= 0.3 * w and (y1 - y0) <= 0.2 * h
    return in_corner_x and in_corner_y and small and (colour_index in _NEUTRAL or area <= 0.02 * w * h)


def read_scene(image: Image.Image) -> SceneReading:
    """Analyse ``image`` (any size, RGB) into background, objects and corner marks."""
    pixels = np.asarray(image.convert("RGB"))
    h, w = pixels.shape[:2]
    labels = colour_labels(pixels)
    border = _border_labels(labels)
    counts = np.bincount(border, minlength=len(COLOUR_NAMES)) / max(1, border.size)
    order = [int(i) for i in np.argsort(-counts) if counts[i] > 0]
    # Two-tone backgrounds put roughly half the border in each colour; noise never gets near 20%.
    bg = [i for i in order[:2] if counts[i] >= 0.2] or order[:1]
    foreground = labels != _background_map(labels, bg)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(foreground.astype(np.uint8), connectivity=4)
    min_area = max(4, int(0.004 * w * h))
    objects, marks = [], []
    claimed = np.zeros((h, w), dtype=bool)
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if area < min_area:
            continue
        mask = comp == i
        # Thin strips along a blurry two-tone seam are not objects.
        if area / max(bw, bh) < 2.0:
            continue
        shares = np.bincount(labels[mask], minlength=len(COLOUR_NAMES)) / area
        colour_index = int(shares.argmax())
        box = (x, y, x + bw, y + bh)
        colour_shares = {COLOUR_NAMES[j]: float(s) for j, s in enumerate(shares) if s > 0}
        if _is_corner_mark(box, area, colour_index, w, h):
            marks.append(FoundObject(COLOUR_NAMES[colour_index], "watermark", tuple(map(float, box)), mask,
                                     area, colour_shares=colour_shares))
        else:
            # A blurred edge can take a neutral colour; name the object by its saturated majority.
            saturated = [j for j in np.argsort(-shares) if j not in _NEUTRAL and shares[j] > 0.15]
            if saturated:
                colour_index = int(saturated[0])
            scores = shape_scores(shape_features(mask))
            shape = max(scores, key=scores.__getitem__)
            objects.append(FoundObject(COLOUR_NAMES[colour_index], shape, tuple(map(float, box)), mask, area,
                                       scores, colour_shares))
        claimed |= mask
    objects.sort(key=lambda o: -o.area)
    bg_mask = ~claimed
    bg_counts = np.bincount(labels[bg_mask], minlength=len(COLOUR_NAMES)) / max(1, int(bg_mask.sum()))
    return SceneReading(
        width=w,
        height=h,
        background=[COLOUR_NAMES[i] for i in bg],
        background_shares={COLOUR_NAMES[j]: float(s) for j, s in enumerate(bg_counts) if s > 0},
        background_mask=bg_mask,
        objects=objects,
        marks=marks,
    )


def describe(image: Image.Image) -> list[FoundObject]:
    """The objects and marks in ``image``: colour, shape (or "watermark"), box, mask; largest object first."""
    return read_scene(image).found


assert set(_PROTOTYPES) == set(SHAPES)
