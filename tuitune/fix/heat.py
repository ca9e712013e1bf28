"""Where a reward finds a picture wrong, for Fix mode: its heatmap (or Grad-CAM of it), the region the fix would
mask (thresholded and dilated as a fix run does), and the grid box around that region.

``python -m tuitune.fix.heat PICTURE OUT_DIR REWARD [PROMPT]`` writes OUT_DIR/heat.png (the heatmap, white =
wrong) and OUT_DIR/region.png (the region, white on black) and prints one JSON line: the box ``[x0, y0, x1, y1]``
or null when the reward finds nothing, the peak, how many pixels the region has and where the map came from.
The app runs it as a short process of its own (it never imports torch itself).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.fix.box import Box
from tuitune.json_report import print_report, usage

HEAT_FILE, REGION_FILE = "heat.png", "region.png"


def heat_report(picture: Path, out_dir: Path, reward: str, prompt: str = "", threshold: float | None = None,
                dilation: int | None = None, options: dict[str, str] | None = None) -> dict[str, Any]:
    """Score ``picture`` with ``reward``; write heat.png and region.png into ``out_dir``; return the report."""
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    from tuitune.fix.config import FixConfig
    from tuitune.fix.gradcam import gradcam
    from tuitune.fix.masks import threshold_and_dilate
    from tuitune.fix.rewards import load_reward

    fields = FixConfig.model_fields
    threshold = fields["threshold"].default if threshold is None else threshold
    dilation = fields["dilation"].default if dilation is None else dilation
    try:
        with Image.open(picture) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise UserError(f"The picture {picture} cannot be read ({exc.__class__.__name__}).") from None
    size = rgb.shape[0]
    if rgb.shape[0] != rgb.shape[1]:
        raise UserError(f"The picture {picture.name} is not square ({rgb.shape[1]}×{rgb.shape[0]}).")
    scorer = load_reward(reward, **(options or {}))
    images = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()
    heat = scorer.heatmap(images, [prompt])
    source = f"the heatmap of {scorer.name}"
    if heat is None:
        heat, source = gradcam(scorer, images, [prompt]), f"Grad-CAM of {scorer.name}"
    heat = heat.detach().float().clamp(0, 1)
    region = threshold_and_dilate(heat, threshold, dilation)[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray((heat[0].numpy() * 255).round().astype(np.uint8), "L").save(out_dir / HEAT_FILE)
    Image.fromarray((region.numpy() > 0.5).astype(np.uint8) * 255, "L").save(out_dir / REGION_FILE)
    ys, xs = torch.nonzero(region > 0.5, as_tuple=True)
    box = None
    if len(xs):
        found = Box.around(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1, size)
        box = [found.x0, found.y0, found.x1, found.y1]
    return {"box": box, "peak": round(float(heat.max()), 4), "pixels": int(len(xs)), "size": size,
            "source": source, "threshold": threshold}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (3, 4):
        return usage("python -m tuitune.fix.heat PICTURE OUT_DIR REWARD [PROMPT]")
    return print_report(lambda: heat_report(Path(args[0]), Path(args[1]), args[2], args[3] if len(args) == 4 else ""))


if __name__ == "__main__":
    raise SystemExit(main())
