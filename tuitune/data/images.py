"""Decode one image file once into a verified, upright, 8-bit RGB picture, or refuse it in one sentence."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
# Formats whose bytes a trainer can read directly, so an already-clean file is copied, not re-encoded.
PASSTHROUGH_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
DEFAULT_MAX_PIXELS = 50_000_000  # about 7000x7000; larger pictures are refused before decoding

# We enforce our own pixel limit before decoding; Pillow's bomb check would only duplicate it.
Image.MAX_IMAGE_PIXELS = None


class ImageRejected(Exception):
    """A file that cannot become a dataset image; the message is one sentence for the user."""


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, upright
    format: str
    passthrough: bool  # the source bytes already are this image (no rotation, no conversion)
    pixel_hash: str
    notes: list[str] = field(default_factory=list)


def pixel_hash(image: Image.Image) -> str:
    """Content hash of the decoded pixels: the same picture hashes the same whatever its metadata."""
    digest = hashlib.sha256(f"{image.mode}{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def decode(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Verify and decode ``data`` (the bytes of file ``name``) into an upright RGB image."""
    if not data:
        raise ImageRejected(f"{name} is empty (0 bytes); re-copy it from its source or delete it.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected(f"{name} is not a picture Pillow can read; check the file or remove it.") from None
    except OSError as exc:
        raise ImageRejected(f"{name} could not be opened ({exc}); re-export it as PNG or JPEG.") from None
    width, height = im.size
    if width * height > max_pixels:
        raise ImageRejected(
            f"{name} is {width}x{height} ({width * height / 1e6:.0f} MP), above the {max_pixels / 1e6:.0f} MP "
            "limit; downscale it first or raise the limit with --max-pixels."
        )
    if width == 0 or height == 0:
        raise ImageRejected(f"{name} has no pixels ({width}x{height}); remove it.")
    fmt = im.format or "unknown"
    notes: list[str] = []
    if getattr(im, "n_frames", 1) > 1:
        notes.append(f"animated ({im.n_frames} frames): the first frame is used")
        im.seek(0)
    try:
        im.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(
            f"{name} is damaged or truncated ({exc}); re-copy it from its source or remove it."
        ) from None
    passthrough = fmt in PASSTHROUGH_FORMATS and im.mode == "RGB" and not notes
    orientation = im.getexif().get(0x0112, 1)
    if orientation not in (1, None):
        im = ImageOps.exif_transpose(im)
        notes.append(f"EXIF orientation {orientation} applied")
        passthrough = False
    rgb = _to_rgb(im, notes)
    if rgb is not im:
        passthrough = False
    return DecodedImage(image=rgb, format=fmt, passthrough=passthrough, pixel_hash=pixel_hash(rgb), notes=notes)


def _to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's convert("L") clips 16-bit values at 255; scale the full range down instead.
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        if mode == "F":
            top = max(float(arr.max()), 1.0)
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        notes.append(f"{mode} high bit depth scaled to 8-bit")
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent areas become white: a trainer sees RGB only, and white reads as "nothing there".
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        notes.append("transparency flattened onto white")
        return canvas.convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
    return im.convert("RGB")
