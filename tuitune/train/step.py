"""One batch's forward pass: noisy latents, the ε or v target, LoRA and base UNet, region-aware loss."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import torch

from tuitune.train.loss import LossParts, min_snr_weights, region_loss


@contextmanager
def adapters_disabled(model: Any):
    """Run the base model: LoRA layers off inside the block (no grad is the caller's job)."""
    model.disable_adapters()
    try:
        yield
    finally:
        model.enable_adapters()


def batch_loss(base: Any, unet: Any, plain_unet: Any, batch: Any, embeds: Any, weight_dtype: torch.dtype,
               preservation: float, min_snr_gamma: float) -> LossParts:
    """Forward one batch and return its region-aware ``LossParts`` (the base pass only when λ > 0)."""
    noisy = base.noise_scheduler.add_noise(batch.latents, batch.noise, batch.timesteps)
    if base.prediction_type == "v_prediction":
        target = base.noise_scheduler.get_velocity(batch.latents, batch.noise, batch.timesteps)
    else:
        target = batch.noise
    kwargs = base.unet_kwargs(embeds, batch.time_ids)
    pred = unet(noisy.to(weight_dtype), batch.timesteps, **kwargs, return_dict=False)[0]
    base_pred = None
    if preservation > 0:
        detached = {k: (v.detach() if torch.is_tensor(v) else v) for k, v in kwargs.items()}
        with torch.no_grad(), adapters_disabled(plain_unet):
            base_pred = plain_unet(noisy.to(weight_dtype), batch.timesteps, **detached, return_dict=False)[0]
    snr = min_snr_weights(base.noise_scheduler, batch.timesteps, min_snr_gamma) if min_snr_gamma > 0 else None
    return region_loss(pred, target, batch.weight, base_pred, batch.preserve, preservation, snr)


def encode_live(base: Any, trained_encoders: list[Any], captions: list[str]) -> Any:
    """Text embeddings with gradients through the LoRA-adapted encoders, for runs that train them."""
    saved = base.text_encoders
    base.text_encoders = trained_encoders + saved[len(trained_encoders):]
    try:
        return base.encode_prompts(captions)
    finally:
        base.text_encoders = saved
