"""The problem region M: a heatmap thresholded and dilated, or the user's box or mask file."""

from __future__ import annotations

from pathlib import Path

import torch

from tuitune.errors import UserError
from tuitune.fix.box import Box


def threshold_and_dilate(heat: torch.Tensor, threshold: float, dilation: int) -> torch.Tensor:
    """(B, H, W) heat in [0, 1] -> (B, H, W) float mask: 1 where heat >= threshold, grown by ``dilation`` pixels."""
    mask = (heat >= threshold).float()
    if dilation > 0:
        size = 2 * dilation + 1
        mask = torch.nn.functional.max_pool2d(mask[:, None], size, stride=1, padding=dilation)[:, 0]
    return mask


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``"x0,y0,x1,y1"`` in pixels (x1, y1 exclusive)."""
    box = Box.parse(text)
    return box.x0, box.y0, box.x1, box.y1


def box_mask(box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    x0, y0, x1, y1 = box
    Box(x0, y0, x1, y1).check_inside(size)
    mask = torch.zeros(size, size)
    mask[y0:y1, x0:x1] = 1.0
    return mask


def file_mask(path: str | Path, size: int) -> torch.Tensor:
    """A greyscale PNG (white = problem), scaled to ``size`` without smoothing."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path).expanduser()
    try:
        with Image.open(path) as image:
            grey = image.convert("L").resize((size, size), Image.NEAREST)
    except FileNotFoundError:
        raise UserError(f"The mask file {path} does not exist; check the path.") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"The mask file {path} is not a readable image ({exc}); give a PNG, white = problem.") from None
    import numpy as np

    return torch.from_numpy((np.asarray(grey) > 127).astype("float32"))
