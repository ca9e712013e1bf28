"""Reads a toyworld picture from its pixels: background colours, objects (colour, shape, box, mask), marks."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from tuitune.toyworld.world import NEUTRAL_COLOURS, PALETTE, SHAPES, ShapeSpec, shape_mask

COLOUR_NAMES = tuple(PALETTE)
_PALETTE_RGB = np.array([PALETTE[c] for c in COLOUR_NAMES], dtype=np.float32)
_NEUTRAL = {COLOUR_NAMES.index(c) for c in NEUTRAL_COLOURS}

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


def _fitted(shape: str, box: tuple[int, int, int, int]) -> ShapeSpec:
    """The shape of ``shape`` whose drawing fills ``box`` (inverse of the generator's geometry)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = x0 + w / 2 - 0.5, y0 + h / 2 - 0.5
    if shape == "square":
        return ShapeSpec(shape, "", cx, cy, (w + h) / 4 / 0.85)
    if shape == "triangle":
        r = (w / 2 + h / 1.8) / 2
        return ShapeSpec(shape, "", cx, y0 + r - 0.5, r)
    if shape == "star":
        r = (w / 1.902 + h / 1.809) / 2
        return ShapeSpec(shape, "", cx, y0 + r - 0.5, r)
    return ShapeSpec(shape, "", cx, cy, (w + h) / 4)


def template_fit(mask: np.ndarray) -> dict[str, float]:
    """IoU of ``mask`` with each toyworld shape fitted to its bounding box."""
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    size = (mask.shape[1], mask.shape[0])
    out = {}
    for shape in SHAPES:
        template = shape_mask(_fitted(shape, box), size)
        out[shape] = float((template & mask).sum() / max(1, (template | mask).sum()))
    return out


def enclosed_holes(mask: np.ndarray) -> np.ndarray:
    """Pixels outside ``mask`` that the mask surrounds (not reachable from the picture's border)."""
    outside = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 2)
    return (outside[1:-1, 1:-1] == 1)


def shape_scores(mask: np.ndarray, sharpness: float = 20.0) -> dict[str, float]:
    """Soft assignment of a blob to the toyworld's shapes (sums to 1), from template IoUs.

    Only a ring has a hole: a blob that encloses one reads as a ring even when the hole is smaller or blurrier
    than the generator draws it (generated samples often close it down), when the template fit alone would
    call it a circle."""
    fit = template_fit(mask)
    holes = enclosed_holes(mask)
    hole_px = int(holes.sum())
    if hole_px >= 4 and hole_px >= 0.03 * (hole_px + int(mask.sum())):
        fit["ring"] = max(fit["ring"], max(v for k, v in fit.items() if k != "ring") + 0.05)
    best = max(fit.values())
    weights = {k: float(np.exp(sharpness * (v - best))) for k, v in fit.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


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


def _seam_blend(pixels: np.ndarray, bg_map: np.ndarray, bg: list[int]) -> np.ndarray:
    """Pixels near the line between two background colours whose colour is a mix of the two."""
    changes = np.zeros(bg_map.shape, dtype=bool)
    changes[:, 1:] |= bg_map[:, 1:] != bg_map[:, :-1]
    changes[1:, :] |= bg_map[1:, :] != bg_map[:-1, :]
    near = cv2.dilate(changes.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    a, b = _PALETTE_RGB[bg[0]], _PALETTE_RGB[bg[1]]
    ab = b - a
    t = np.clip(((pixels.astype(np.float32) - a) @ ab) / max(float(ab @ ab), 1.0), 0.0, 1.0)
    closest = a + t[..., None] * ab
    dist = np.sqrt(((pixels.astype(np.float32) - closest) ** 2).sum(-1))
    return near & (dist < 45.0)


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
    bg_map = _background_map(labels, bg)
    foreground = labels != bg_map
    if len(bg) == 2:
        foreground &= ~_seam_blend(pixels, bg_map, bg)
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
            scores = shape_scores(mask)
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

