"""Grad-CAM for a scalar reward: where in the image the reward's own features pull the score down.

cam = ReLU(sum_k w_k A_k) with w_k = -mean over positions of d score / d A_k: the negative weights mark the
features that lower the reward, i.e. the problem region. Each map is scaled to a maximum of 1.
"""

from __future__ import annotations

from typing import Any

import torch

from tuitune.errors import UserError


def gradcam(reward: Any, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
    """(B, H, W) in [0, 1] for ``images`` (B, 3, H, W) in [0, 1]; the reward must name its ``cam_layer()``."""
    if not hasattr(reward, "cam_layer"):
        raise UserError(f"The reward {reward.name} has no heatmap and names no layer for Grad-CAM; give the mask "
                        "as a box or a mask file instead.")
    layer = reward.cam_layer()
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, args, out: seen.append(out))
    try:
        with torch.enable_grad():
            inputs = images.detach().clone().requires_grad_(True)  # a graph through the frozen network
            score = reward.score(inputs, prompts).sum()
            activations = seen[-1]
            if activations.dim() == 3:  # (B, tokens, width) of a transformer: no spatial map to weigh
                raise UserError(f"The layer Grad-CAM found in {reward.name} is not a convolution; give a box or "
                                "a mask file instead.")
            grads = torch.autograd.grad(score, activations)[0]
    finally:
        handle.remove()
    weights = (-grads).mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activations).sum(dim=1, keepdim=True)).detach()
    cam = torch.nn.functional.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    return cam / peak
