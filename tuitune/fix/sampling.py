"""Draw with the same initial noise x_T by the frozen and the tuned model, with gradients through the last K steps.

DRaFT-K: the first ``steps - K`` DDIM steps run without a graph; the last K steps and the VAE decoder keep
one, so a loss on the image reaches the LoRA through them (``checkpointing`` recomputes them in backward).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from tuitune.generate.sampler import scheduler_for


def initial_noise(seeds: list[int], channels: int, size: int, device: Any) -> torch.Tensor:
    """x_T for each seed, drawn on the CPU so a seed gives the same noise on every device."""
    noise = [torch.randn((channels, size, size), generator=torch.Generator().manual_seed(s)) for s in seeds]
    return torch.stack(noise).to(device)


class Drawer:
    """Text embeddings, a DDIM schedule and the decoder of one base model; ``draw`` renders (B, 3, H, W) in [0, 1]."""

    def __init__(self, base: Any, steps: int, guidance: float, resolution: int) -> None:
        self.base, self.guidance, self.resolution = base, guidance, resolution
        self.scheduler = scheduler_for("ddim", base.noise_scheduler.config)
        self.scheduler.set_timesteps(steps)
        self.latent_size = resolution // base.vae_scale
        self._embeds: dict[str, torch.Tensor] = {}

    def embeds(self, prompts: list[str]) -> torch.Tensor:
        missing = [p for p in dict.fromkeys(prompts + [""]) if p not in self._embeds]
        if missing:
            with torch.no_grad():
                hidden = self.base.encode_prompts(missing).hidden
            self._embeds.update(zip(missing, hidden, strict=True))
        return torch.stack([self._embeds[p] for p in prompts])

    def noise(self, seeds: list[int], device: Any) -> torch.Tensor:
        channels = self.base.unet.config.in_channels
        return initial_noise(seeds, channels, self.latent_size, device) * self.scheduler.init_noise_sigma

    def draw(self, unet: Any, prompts: list[str], seeds: list[int], grad_steps: int = 0,
             checkpointing: bool = False) -> torch.Tensor:
        device = next(unet.parameters()).device
        cond = self.embeds(prompts).to(device)
        guided = self.guidance > 1.0
        hidden = torch.cat([self.embeds([""] * len(prompts)).to(device), cond]) if guided else cond
        latents = self.noise(seeds, device)
        timesteps = self.scheduler.timesteps
        for i, t in enumerate(timesteps):
            tracked = i >= len(timesteps) - grad_steps
            with torch.set_grad_enabled(tracked and torch.is_grad_enabled()):
                x = torch.cat([latents, latents]) if guided else latents
                x = self.scheduler.scale_model_input(x, t)
                if tracked and checkpointing:
                    eps = checkpoint(_unet_call, unet, x, t, hidden, use_reentrant=False)
                else:
                    eps = _unet_call(unet, x, t, hidden)
                if guided:
                    uncond, text = eps.chunk(2)
                    eps = uncond + self.guidance * (text - uncond)
                latents = self.scheduler.step(eps, t, latents).prev_sample
        with torch.set_grad_enabled(grad_steps > 0 and torch.is_grad_enabled()):
            if grad_steps > 0 and checkpointing:
                return checkpoint(self._decode, latents, use_reentrant=False)
            return self._decode(latents)

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self.base.vae
        image = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
        return (image / 2 + 0.5).clamp(0, 1)


def _unet_call(unet: Any, x: torch.Tensor, t: Any, hidden: torch.Tensor) -> torch.Tensor:
    return unet(x, t, encoder_hidden_states=hidden, return_dict=False)[0]
