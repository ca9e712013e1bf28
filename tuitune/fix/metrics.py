"""What a fix did, measured on the evaluation prompts and seeds: defect rate, reward, drift inside and outside M.

Drift is the mean absolute pixel difference (images in [0, 1], channels averaged) between the tuned and the
frozen model's image of the same prompt and x_T, over the pixels outside the mask and over those inside it.
A figure that cannot be computed (no critic, an empty mask) is None, never 0.
"""

from __future__ import annotations

from typing import Any

import torch


def defective(defect_map: torch.Tensor, threshold: float, min_pixels: int) -> torch.Tensor:
    """(B,) bool: the critic marks at least ``min_pixels`` pixels at ``threshold`` or above."""
    return (defect_map >= threshold).flatten(1).sum(dim=1) >= min_pixels


def drift(frozen: torch.Tensor, tuned: torch.Tensor, mask: torch.Tensor) -> tuple[float, float | None]:
    """(outside, inside) mean absolute difference over all pictures' pixels outside / inside ``mask`` (B, H, W)."""
    diff = (tuned - frozen).abs().mean(dim=1)
    outside, inside = (1 - mask), mask
    out = float((diff * outside).sum() / outside.sum().clamp_min(1))
    inn = float((diff * inside).sum() / inside.sum()) if inside.sum() > 0 else None
    return out, inn


def side_figures(images: torch.Tensor, prompts: list[str], reward: Any, critic: Any, threshold: float,
                 min_pixels: int) -> dict[str, Any]:
    """Reward and defect rate of one side's pictures (the frozen model's or the tuned one's)."""
    with torch.no_grad():
        figures: dict[str, Any] = {"reward": float(reward.score(images, prompts).mean())}
        if critic is None:
            figures["defect_rate"] = None
        else:
            figures["defect_rate"] = float(defective(critic.defect_map(images), threshold, min_pixels).float().mean())
    return figures


def report(frozen: torch.Tensor, tuned: torch.Tensor, masks: torch.Tensor, prompts: list[str], reward: Any,
           critic: Any, threshold: float, min_pixels: int) -> dict[str, Any]:
    """The evaluation report: base and tuned figures, the reward gain, and drift outside and inside M."""
    base = side_figures(frozen, prompts, reward, critic, threshold, min_pixels)
    fixed = side_figures(tuned, prompts, reward, critic, threshold, min_pixels)
    outside, inside = drift(frozen, tuned, masks)
    return {"pictures": len(prompts), "base": base, "tuned": fixed,
            "reward_gain": fixed["reward"] - base["reward"],
            "drift_outside": outside, "drift_inside": inside, "mask_share": float(masks.mean())}
