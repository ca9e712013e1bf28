"""The toyworld's analytic vision backend: Detector, Segmenter and Embedder built on pixel analysis."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tuitune.toyworld.analysis import COLOUR_NAMES, SceneReading, read_scene
from tuitune.toyworld.world import SHAPES
from tuitune.vision.protocols import Box, Detection

COLOUR_WORDS = {
    **{c: c for c in COLOUR_NAMES},
    "grey": "gray", "violet": "purple", "magenta": "purple", "crimson": "red", "scarlet": "red",
    "navy": "blue", "cyan": "blue", "lime": "green", "gold": "yellow", "golden": "yellow",
}
SHAPE_WORDS = {
    **{s: s for s in SHAPES},
    "circles": "circle", "disc": "circle", "disk": "circle", "ball": "circle", "dot": "circle",
    "squares": "square", "box": "square", "rectangle": "square", "block": "square", "cube": "square",
    "triangles": "triangle", "pyramid": "triangle", "stars": "star",
    "rings": "ring", "donut": "ring", "doughnut": "ring", "torus": "ring", "annulus": "ring", "hoop": "ring",
}
MARK_WORDS = {"watermark", "watermarks", "mark", "marks", "logo", "signature", "stamp", "label", "text", "tag"}
BACKGROUND_WORDS = {"background", "backdrop", "backgrounds", "bg", "surroundings", "scenery", "setting"}
# Words that name "the thing(s) in the picture" without saying which.
OBJECT_WORDS = {"object", "objects", "shape", "shapes", "thing", "things", "character", "subject", "figure",
                "item", "foreground", "colour", "color", "colours", "colors", "body", "main", "instance"}

_BLOCKS = {"colour": len(COLOUR_NAMES), "shape": len(SHAPES), "background": len(COLOUR_NAMES), "mark": 1}
_BLOCK_WEIGHTS = {"colour": 1.0, "shape": 1.0, "background": 0.6, "mark": 0.6}


@dataclass
class Query:
    """What a text asks for, in toyworld terms."""

    colours: set[str] = field(default_factory=set)
    shapes: set[str] = field(default_factory=set)
    background_colours: set[str] = field(default_factory=set)
    background: bool = False
    mark: bool = False
    objects: bool = False  # names objects (a shape, a colour or a generic word)

    @property
    def understood(self) -> bool:
        return self.background or self.mark or self.objects


def parse(text: str, aliases: dict[str, str] | None = None) -> Query:
    """Read colours, shapes, "watermark" and "background" out of free text ("a red circle on a blue
    background"); ``aliases`` maps extra words (a trigger word) to toyworld words."""
    words = re.findall(r"[a-z]+", text.lower())
    aliases = {k.lower(): v.lower() for k, v in (aliases or {}).items()}
    expanded: list[str] = []
    for w in words:
        w = aliases.get(w, w)
        if w.endswith("s") and w not in SHAPE_WORDS and w[:-1] in SHAPE_WORDS:
            w = w[:-1]  # plurals: "donuts", "stars"
        expanded.extend(re.findall(r"[a-z]+", w))
    q = Query()
    # Colour words right before a background word ("on a blue and white background") describe it.
    bg_at = [i for i, w in enumerate(expanded) if w in BACKGROUND_WORDS]
    on_at = [i for i, w in enumerate(expanded) if w in {"on", "over", "against", "in"}]
    for i, w in enumerate(expanded):
        if w in COLOUR_WORDS:
            about_bg = any(i < b and not any(i < s < b for s in on_at if s > i) and
                           all(expanded[j] in COLOUR_WORDS or expanded[j] in {"and", "a", "an", "plain", "two",
                                                                                "tone", "the"}
                               for j in range(i + 1, b)) for b in bg_at)
            (q.background_colours if about_bg else q.colours).add(COLOUR_WORDS[w])
        elif w in SHAPE_WORDS:
            q.shapes.add(SHAPE_WORDS[w])
        elif w in MARK_WORDS:
            q.mark = True
        elif w in BACKGROUND_WORDS:
            q.background = True
        elif w in OBJECT_WORDS:
            q.objects = True
    if q.colours or q.shapes:
        q.objects = True
    return q


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else v.astype(np.float32)


@dataclass
class AnalyticBackend:
    """Detector + Segmenter + Embedder for toyworld pictures, from their pixels alone.

    ``aliases`` lets a project's own words count as toyworld words, e.g. ``{"zxq": "ring"}``.
    """

    aliases: dict[str, str] = field(default_factory=dict)
    _cache: dict[str, SceneReading] = field(default_factory=dict, repr=False)

    # --- analysis, cached per picture ---------------------------------------------------------------
    def read(self, image: Image.Image) -> SceneReading:
        rgb = image.convert("RGB")
        key = hashlib.sha1(rgb.tobytes() + bytes(str(rgb.size), "ascii")).hexdigest()
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = read_scene(rgb)
        return self._cache[key]

    # --- Detector -----------------------------------------------------------------------------------
    def detect(self, image: Image.Image, text: str) -> list[Detection]:
        q = parse(text, self.aliases)
        reading = self.read(image)
        found: list[Detection] = []
        if q.mark:
            found += [Detection(m.box, 0.95, "watermark") for m in reading.marks]
        if q.objects:
            for obj in reading.objects:
                if q.colours and obj.colour not in q.colours:
                    continue
                if q.shapes and obj.shape not in q.shapes:
                    continue
                score = obj.confidence if q.shapes else 0.9
                found.append(Detection(obj.box, round(float(score), 4), f"{obj.colour} {obj.shape}"))
        elif q.background and (not q.background_colours or q.background_colours & set(reading.background)):
            found.append(Detection((0.0, 0.0, float(reading.width), float(reading.height)), 0.9, "background"))
        found.sort(key=lambda d: -d.score)
        return found

    # --- Segmenter ----------------------------------------------------------------------------------
    def segment(self, image: Image.Image, box: Box) -> np.ndarray:
        reading = self.read(image)
        best, best_iou = None, 0.3
        for thing in reading.found:
            iou = _box_iou(thing.box, box)
            if iou > best_iou:
                best, best_iou = thing, iou
        if best is not None:
            return best.mask.copy()
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        inside = np.zeros((reading.height, reading.width), dtype=bool)
        inside[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
        if inside.sum() >= 0.9 * reading.width * reading.height:
            return reading.background_mask.copy()  # a whole-picture box asks for the background
        # No known thing there: take what differs from the background inside the box, else the box.
        own = inside & ~reading.background_mask
        return own if own.any() else inside

    def mask(self, image: Image.Image, text: str) -> np.ndarray:
        """Union of the masks of everything ``text`` names (all False if nothing matches)."""
        reading = self.read(image)
        out = np.zeros((reading.height, reading.width), dtype=bool)
        for det in self.detect(image, text):
            out |= self.segment(image, det.box)
        return out

    # --- Embedder -----------------------------------------------------------------------------------
    def embed_image(self, image: Image.Image) -> np.ndarray:
        reading = self.read(image)
        blocks = {k: np.zeros(n, dtype=np.float32) for k, n in _BLOCKS.items()}
        total = sum(o.area for o in reading.objects)
        for obj in reading.objects:
            w = obj.area / total
            for name, share in obj.colour_shares.items():
                blocks["colour"][COLOUR_NAMES.index(name)] += w * share
            for i, shape in enumerate(SHAPES):
                blocks["shape"][i] += w * obj.shape_scores.get(shape, 0.0)
        for name, share in reading.background_shares.items():
            blocks["background"][COLOUR_NAMES.index(name)] = share
        blocks["mark"][0] = 1.0 if reading.marks else 0.0
        return self._join(blocks)

    def embed_text(self, text: str) -> np.ndarray:
        q = parse(text, self.aliases)
        blocks = {k: np.zeros(n, dtype=np.float32) for k, n in _BLOCKS.items()}
        for c in q.colours:
            blocks["colour"][COLOUR_NAMES.index(c)] = 1.0 / len(q.colours)
        for s in q.shapes:
            blocks["shape"][SHAPES.index(s)] = 1.0 / len(q.shapes)
        for c in q.background_colours:
            blocks["background"][COLOUR_NAMES.index(c)] = 1.0 / len(q.background_colours)
        blocks["mark"][0] = 1.0 if q.mark else 0.0
        return self._join(blocks)

    @staticmethod
    def _join(blocks: dict[str, np.ndarray]) -> np.ndarray:
        return _unit(np.concatenate([_unit(blocks[k]) * _BLOCK_WEIGHTS[k] for k in _BLOCKS]))


def _box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
