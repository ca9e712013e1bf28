"""A mask drawn over its picture so it shows on any subject: a tint that contrasts with the masked part and an
outline in the same colour at full strength."""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter, ImageStat

# Far apart from each other: whatever colour the masked part has, one of them stands out from it.
TINTS = ((255, 40, 40), (40, 220, 60), (40, 90, 255), (255, 230, 0), (0, 230, 230), (230, 0, 230))
TINT_STRENGTH = 0.5
OUTLINE_SHARE = 1 / 48  # of the picture's shorter side: still a line once shrunk to terminal cells


def tint_for(rgb: Image.Image, mask: Image.Image) -> tuple[int, int, int]:
    """The colour among ``TINTS`` farthest from the masked part's mean colour."""
    mean = ImageStat.Stat(rgb, mask).mean if mask.getbbox() else [0.0, 0.0, 0.0]
    return max(TINTS, key=lambda tint: sum((a - b) ** 2 for a, b in zip(tint, mean, strict=True)))


def draw_mask(rgb: Image.Image, mask: Image.Image) -> Image.Image:
    """``rgb`` with ``mask`` (white on black, any size) tinted and outlined."""
    mask = mask.convert("L").resize(rgb.size, Image.Resampling.NEAREST).point(lambda v: 255 if v >= 128 else 0)
    tint = tint_for(rgb, mask)
    colour = Image.new("RGB", rgb.size, tint)
    shown = Image.composite(Image.blend(rgb, colour, TINT_STRENGTH), rgb, mask)
    width = max(1, round(min(rgb.size) * OUTLINE_SHARE))
    grown = mask.filter(ImageFilter.MaxFilter(2 * width + 1))
    shrunk = mask.filter(ImageFilter.MinFilter(2 * width + 1))
    outline = ImageChops.subtract(grown, shrunk)
    return Image.composite(colour, shown, outline)
