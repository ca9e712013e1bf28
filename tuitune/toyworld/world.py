"""The toyworld generator: seeded 64x64 scenes of coloured shapes, their captions and exact geometry."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64

# Saturated colours a shape can take; far apart in RGB so a blurry sample still reads as one of them.
SHAPE_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 220),
    "purple": (140, 40, 180),
}
# Neutral colours only backgrounds and marks use.
NEUTRAL_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
    "black": (15, 15, 15),
}
PALETTE: dict[str, tuple[int, int, int]] = {**SHAPE_COLOURS, **NEUTRAL_COLOURS}
BACKGROUND_COLOURS = tuple(PALETTE)
SHAPES = ("circle", "square", "triangle", "star", "ring")

WATERMARK_SIZE = (12, 5)  # width, height in pixels, drawn in the bottom-right corner
WATERMARK_MARGIN = 3


@dataclass(frozen=True)
class ShapeSpec:
    """One object of a scene: what it is and where (centre and radius in pixels)."""

    shape: str
    colour: str
    cx: float
    cy: float
    radius: float


def article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


@dataclass(frozen=True)
class Scene:
    """Everything needed to draw one image; the same scene always draws the same pixels."""

    objects: tuple[ShapeSpec, ...]
    background: tuple[str, ...]  # one colour, or two for a two-tone background
    split: str = "vertical"  # two-tone only: "vertical" = left/right halves, "horizontal" = top/bottom
    watermark: bool = False

    def caption(self, trigger: str | None = None, mention_watermark: bool = True) -> str:
        """What the scene shows in words; ``mention_watermark=False`` leaves a watermark unsaid, as most
        people's captions (and taggers) do."""
        things = " and ".join(f"{article(o.colour)} {o.colour} {o.shape}" for o in self.objects)
        if trigger:
            things = f"{trigger}, {things}"
        text = f"{things} on {article(self.background[0])} {' and '.join(self.background)} background"
        if self.watermark and mention_watermark:
            text += ", with a watermark"
        return text


@dataclass
class Rendered:
    """A drawn scene: the image, its caption, and the generator's exact masks (for tests and ground truth)."""

    scene: Scene
    image: Image.Image
    caption: str
    object_masks: list[np.ndarray] = field(default_factory=list)
    watermark_mask: np.ndarray | None = None

    @property
    def background_mask(self) -> np.ndarray:
        covered = np.zeros((SIZE, SIZE), dtype=bool)
        for mask in self.object_masks:
            covered |= mask
        if self.watermark_mask is not None:
            covered |= self.watermark_mask
        return ~covered


def shape_mask(spec: ShapeSpec, size: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """Boolean HxW mask of ``spec`` drawn on a ``size`` = (width, height) canvas."""
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    cx, cy, r = spec.cx, spec.cy, spec.radius
    if spec.shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    elif spec.shape == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        inner = r * 0.5
        draw.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=0)
    elif spec.shape == "square":
        s = r * 0.85  # a square of the same "radius" as a circle looks much bigger; shrink it
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=255)
    elif spec.shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=255)
    elif spec.shape == "star":
        points = []
        for i in range(10):
            radius = r if i % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + i * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        draw.polygon(points, fill=255)
    else:
        raise ValueError(f"unknown shape {spec.shape!r}; the toyworld draws {', '.join(SHAPES)}")
    return np.asarray(canvas) > 127


def watermark_box() -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1; x1/y1 exclusive) of the watermark."""
    w, h = WATERMARK_SIZE
    x1, y1 = SIZE - WATERMARK_MARGIN, SIZE - WATERMARK_MARGIN
    return x1 - w, y1 - h, x1, y1


def watermark_colour(background: tuple[str, ...]) -> tuple[int, int, int]:
    """White on dark backgrounds, black on light ones, judged by the colour under the corner."""
    r, g, b = PALETTE[background[-1]]
    return PALETTE["black"] if 0.299 * r + 0.587 * g + 0.114 * b > 110 else PALETTE["white"]


def render(scene: Scene, trigger: str | None = None) -> Rendered:
    pixels = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    pixels[:] = PALETTE[scene.background[0]]
    if len(scene.background) > 1:
        half = SIZE // 2
        if scene.split == "vertical":
            pixels[:, half:] = PALETTE[scene.background[1]]
        else:
            pixels[half:, :] = PALETTE[scene.background[1]]
    masks = []
    for spec in scene.objects:
        mask = shape_mask(spec)
        pixels[mask] = PALETTE[spec.colour]
        masks.append(mask)
    wm_mask = None
    if scene.watermark:
        x0, y0, x1, y1 = watermark_box()
        wm_mask = np.zeros((SIZE, SIZE), dtype=bool)
        wm_mask[y0:y1, x0:x1] = True
        pixels[wm_mask] = watermark_colour(scene.background)
        # Later objects hide what they cover: keep earlier masks honest about what is visible.
        masks = [m & ~wm_mask for m in masks]
    for i in range(len(masks)):
        for later in masks[i + 1 :]:
            masks[i] = masks[i] & ~later
    return Rendered(scene, Image.fromarray(pixels, "RGB"), scene.caption(trigger), masks, wm_mask)


@dataclass
class WorldSampler:
    """Draws random scenes; the same seed gives the same sequence of scenes."""

    seed: int = 0
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = tuple(SHAPE_COLOURS)
    watermark_rate: float = 0.5
    two_tone_rate: float = 0.3
    max_objects: int = 1
    min_radius: float = 9.0
    max_radius: float = 16.0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def scene(
        self,
        shape: str | None = None,
        colour: str | None = None,
        background: tuple[str, ...] | None = None,
        watermark: bool | None = None,
    ) -> Scene:
        rng = self._rng
        n = rng.randint(1, self.max_objects)
        objects: list[ShapeSpec] = []
        used_colours: set[str] = set()
        for i in range(n):
            obj_colour = colour if (colour and i == 0) else rng.choice(
                [c for c in self.colours if c not in used_colours] or list(self.colours)
            )
            obj_shape = shape if (shape and i == 0) else rng.choice(self.shapes)
            placed = self._place(obj_shape, obj_colour, objects, crowded=n > 1)
            if placed is not None:  # no free room left: the scene simply has fewer objects
                used_colours.add(obj_colour)
                objects.append(placed)
        if background is None:
            choices = [c for c in BACKGROUND_COLOURS if c not in used_colours]
            first = rng.choice(choices)
            if rng.random() < self.two_tone_rate:
                background = (first, rng.choice([c for c in choices if c != first]))
            else:
                background = (first,)
        split = rng.choice(("vertical", "horizontal"))
        has_mark = rng.random() < self.watermark_rate if watermark is None else watermark
        return Scene(tuple(objects), tuple(background), split, has_mark)

    def _place(self, shape: str, colour: str, others: list[ShapeSpec], crowded: bool) -> ShapeSpec | None:
        rng = self._rng
        r = rng.uniform(self.min_radius, min(self.max_radius, 11.0) if crowded else self.max_radius)
        for _ in range(100):
            # Keep clear of the image border and of the watermark corner.
            cx, cy = rng.uniform(r + 2, SIZE - r - 2), rng.uniform(r + 2, SIZE - r - 2)
            if cx + r > SIZE - 18 and cy + r > SIZE - 12:
                continue
            # 1.25 r covers a square's corners, the farthest any shape reaches from its centre.
            if all(math.hypot(cx - o.cx, cy - o.cy) > 1.25 * (r + o.radius) + 3 for o in others):
                return ShapeSpec(shape, colour, round(cx, 2), round(cy, 2), round(r, 2))
        if not others:  # every try hit the corner: the centre is always free
            return ShapeSpec(shape, colour, SIZE / 2 - 4, SIZE / 2 - 4, round(r, 2))
        return None

    def sample(self, **kwargs: object) -> Rendered:
        trigger = kwargs.pop("trigger", None)
        return render(self.scene(**kwargs), trigger=trigger)  # type: ignore[arg-type]
