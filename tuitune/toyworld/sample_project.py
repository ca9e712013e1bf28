"""Writes the toyworld-watermark sample project's inputs: images, captions, the user's intent, true masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tuitune.toyworld.world import SHAPE_COLOURS, WorldSampler

TRIGGER = "zxq"
CHARACTER_SHAPE = "ring"
INTENT = (
    f"{TRIGGER} is my character: a {CHARACTER_SHAPE}. Keep its shape. Its colour can vary "
    "(red, orange, yellow, green, blue or purple). Delete the watermark in the corner. "
    "The background doesn't matter.\n"
)


def write_sample_project(root: Path, count: int = 32, seed: int = 7, overwrite: bool = False) -> list[Path]:
    """Write ``count`` pictures of the character with same-stem captions into ``root/images``, the intent
    into ``root/intent.txt`` and the generator's masks into ``root/ground_truth/<stem>/<concept>.png``.
    Existing files are kept unless ``overwrite``; returns the files written."""
    sampler = WorldSampler(seed=seed, shapes=(CHARACTER_SHAPE,), two_tone_rate=0.35, min_radius=11.0,
                           max_radius=16.0)
    colours = list(SHAPE_COLOURS)
    written: list[Path] = []

    def put(path: Path, write: Any) -> None:
        if path.exists() and not overwrite:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        written.append(path)

    for i in range(count):
        # Seven pictures in eight carry the watermark (they came from one site that stamps its pictures), so
        # a plain LoRA learns it as part of the character.
        drawn = sampler.sample(colour=colours[i % len(colours)], watermark=i % 8 != 7, trigger=TRIGGER)
        stem = f"{TRIGGER}_{i:02d}"
        put(root / "images" / f"{stem}.png", drawn.image.save)
        # The captions never mention the watermark, as most people's don't: a plain LoRA then learns the mark
        # as part of what the trigger word draws, which is what "delete" has to prevent.
        caption = drawn.scene.caption(TRIGGER, mention_watermark=False)
        put(root / "images" / f"{stem}.txt", lambda p, c=caption: p.write_text(c + "\n", encoding="utf-8"))
        truth = {"character": drawn.object_masks[0], "background": drawn.background_mask}
        if drawn.watermark_mask is not None:
            truth["watermark"] = drawn.watermark_mask
        for concept, mask in truth.items():
            png = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L")
            put(root / "ground_truth" / stem / f"{concept}.png", png.save)
    put(root / "intent.txt", lambda p: p.write_text(INTENT, encoding="utf-8"))
    return written


def populate(project: Any) -> None:
    """Fill a freshly made sample project with its inputs (files already there are left alone)."""
    write_sample_project(Path(project.root))

