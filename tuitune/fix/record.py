"""What a fix run leaves beside the protocol's files: its frozen pictures and masks, and its evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tuitune import atomic
from tuitune.fix.results import REPORT


def save_pictures(folder: Path, images: torch.Tensor, masks: torch.Tensor | None = None,
                  names: list[str] | None = None) -> list[Path]:
    """PNG per picture (``NNN.png``) and per mask (``NNN_mask.png``, white = problem region)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    pixels = (images.detach().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    for i, picture in enumerate(pixels):
        name = names[i] if names else f"{i:03d}"
        paths.append(folder / f"{name}.png")
        Image.fromarray(picture, "RGB").save(paths[-1])
        if masks is not None:
            mask = (masks[i].detach().cpu().numpy() > 0.5).astype(np.uint8) * 255
            Image.fromarray(mask, "L").save(folder / f"{name}_mask.png")
    return paths


def write_report(run_path: Path, pictures: dict[str, torch.Tensor], result: dict[str, Any]) -> Path:
    """eval/frozen, eval/tuned (with the masks) and ``fix_report.json``."""
    save_pictures(run_path / "eval" / "frozen", pictures["frozen"], pictures["masks"])
    save_pictures(run_path / "eval" / "tuned", pictures["tuned"])
    path = run_path / REPORT
    atomic.write_text(path, json.dumps(result, indent=2) + "\n")
    return path
