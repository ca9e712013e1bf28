"""The region-aware loss: loss-weight map W and preservation map P from masks, and the loss they define.

``loss = Σ(W·(ε_θ−ε)²)/ΣW + λ·mean(P·(ε_θ−ε_base)²)`` per sample, with optional min-SNR weighting of the
first term. With no maps it is exactly diffusers' plain ``F.mse_loss``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tuitune.train.config import ConceptLoss, LossSection

log = logging.getLogger(__name__)


@dataclass
class LossParts:
    total: torch.Tensor
    masked: torch.Tensor  # the W-weighted denoising term (min-SNR weighted when enabled)
    preserve: torch.Tensor  # mean(P·(ε_θ−ε_base)²), zero when λ = 0


def needs_weight_map(loss: LossSection, any_masks: bool) -> bool:
    """False when W would be 1 everywhere, so the plain mean is used (exact and cheaper)."""
    return any_masks or loss.background_weight != 1.0


def load_mask(path: Path, image_size: tuple[int, int], warnings: list[str] | None = None) -> np.ndarray:
    """A boolean mask at the image's size: other sizes are resized (warned), grey values thresholded at 0.5."""
    with Image.open(path) as img:
        mask = img.convert("L")
    if mask.size != image_size:
        message = f"mask {path} is {mask.size[0]}x{mask.size[1]} but its image is {image_size[0]}x{image_size[1]}; resized."
        log.warning(message)
        if warnings is not None:
            warnings.append(message)
        mask = mask.resize(image_size, Image.BILINEAR)
    return np.asarray(mask, dtype=np.uint8) >= 128


def mask_file(name: str, concept: ConceptLoss) -> str:
    """The mask file stem of a ``[loss.concepts]`` entry: its ``mask`` key, else its name as a file name."""
    from tuitune.data.dataset import concept_filename

    return concept.mask if concept.mask is not None else concept_filename(name)


def concepts_by_mask(loss: LossSection) -> dict[str, tuple[str, ConceptLoss]]:
    """Mask file stem -> (concept name, its loss entry); two entries naming one file are an error."""
    from tuitune.train.errors import TrainError

    found: dict[str, tuple[str, ConceptLoss]] = {}
    for name, concept in loss.concepts.items():
        stem = mask_file(name, concept)
        if stem in found:
            raise TrainError(f"[loss.concepts] {found[stem][0]!r} and {name!r} both use the mask file {stem}.png; "
                             "give one of them its own mask = \"NAME\".")
        found[stem] = (name, concept)
    return found


def check_masks(mask_files: dict[str, list[str]], loss: LossSection) -> list[str]:
    """The loss contract at the start of a run; ``mask_files`` is mask stem -> the pictures that have it.

    With ``[loss.concepts]`` set: a mask file that belongs to no entry is an error (its region would train at
    a default weight); a delete entry with no mask in any picture is an error (what the user asked to delete
    would be learned); a keep or modify entry with no mask anywhere is returned as a warning (it trains with
    the rest of the picture). Without ``[loss.concepts]`` masks are plain weight masks (W 1 inside, the
    background's values outside), as kohya's masked loss reads them."""
    from tuitune.train.errors import TrainError

    if not loss.concepts:
        return []
    known = concepts_by_mask(loss)
    for stem, pictures in sorted(mask_files.items()):
        if stem not in known:
            listed = ", ".join(f"{mask_file(n, c)}.png" for n, c in loss.concepts.items())
            raise TrainError(f"mask file {stem}.png (picture {pictures[0]}) belongs to no [loss.concepts] entry "
                             f"(they use {listed}); add an entry for it or remove the mask.")
    warnings = []
    for stem, (name, concept) in known.items():
        if stem in mask_files:
            continue
        if concept.operation == "delete" or (concept.operation is None and concept.weight == 0.0):
            raise TrainError(f"[loss.concepts] {name!r} is to be deleted but no picture has its mask "
                             f"(masks/<picture>/{stem}.png), so it would be learned; run detection for it "
                             "first or remove the entry.")
        warnings.append(f"[loss.concepts] {name!r} has no mask in any picture (masks/<picture>/{stem}.png); "
                        "it trains with the rest of the picture.")
    return warnings


def pixel_maps(masks: dict[str, np.ndarray], loss: LossSection, shape_hw: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray]:
    """W and P at pixel level: inside masks the largest covering concept value, outside the background value.

    ``masks`` is keyed by mask file stem; each is looked up through ``[loss.concepts]`` (``check_masks`` made
    sure every one has an entry). Without ``[loss.concepts]`` every mask is a plain weight mask (W 1, P 0)."""
    weight = np.full(shape_hw, -np.inf, np.float32)
    preserve = np.full(shape_hw, -np.inf, np.float32)
    known = concepts_by_mask(loss) if loss.concepts else {}
    for stem, mask in masks.items():
        if loss.concepts:
            w, p = known[stem][1].weight, known[stem][1].preserve
        else:
            w, p = 1.0, 0.0
        weight[mask] = np.maximum(weight[mask], w)
        preserve[mask] = np.maximum(preserve[mask], p)
    covered = np.isfinite(weight)
    weight[~covered] = loss.background_weight
    preserve[~covered] = loss.background_preserve
    return weight, preserve


def to_latent(maps: np.ndarray, bucket: tuple[int, int], crop_tl: tuple[int, int], image_size: tuple[int, int],
              latent_hw: tuple[int, int], pool: str = "area") -> torch.Tensor:
    """Apply the image's resize+crop to a float map, then downsample it to latent size (the cell's mean, or
    with ``pool="max"`` its largest value): (1, h, w)."""
    from tuitune.train.dataset import cover_size

    new_w, new_h = cover_size(image_size, bucket)
    t = torch.from_numpy(np.ascontiguousarray(maps))[None, None]
    t = F.interpolate(t, size=(new_h, new_w), mode="nearest")
    top, left = crop_tl
    t = t[..., top:top + bucket[1], left:left + bucket[0]]
    if pool == "max":
        return F.adaptive_max_pool2d(t, latent_hw)[0]
    return F.interpolate(t, size=latent_hw, mode="area")[0]


def latent_maps(weight: np.ndarray, preserve: np.ndarray, bucket: tuple[int, int], crop_tl: tuple[int, int],
                image_size: tuple[int, int], latent_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """W and P at latent size, (1, h, w) each.

    Where a concept is to be learned not at all but held to the base model (W 0, P > 0: a thing to delete),
    every latent cell it touches and the cells around them (the VAE's encoder sees past its own cell) get
    W 0 and that P; an area average alone would leave a cell half over a watermark learning half of it."""
    w = to_latent(weight, bucket, crop_tl, image_size, latent_hw)
    p = to_latent(preserve, bucket, crop_tl, image_size, latent_hw)
    forbid = ((weight == 0) & (preserve > 0)).astype(np.float32)
    if not forbid.any():
        return w, p
    held = to_latent(preserve * forbid, bucket, crop_tl, image_size, latent_hw, pool="max")
    touched = to_latent(forbid, bucket, crop_tl, image_size, latent_hw, pool="max")
    held = F.max_pool2d(held[None], kernel_size=3, stride=1, padding=1)[0]
    touched = F.max_pool2d(touched[None], kernel_size=3, stride=1, padding=1)[0]
    return torch.where(touched > 0, torch.zeros_like(w), w), torch.maximum(p, held)


def region_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                base_pred: torch.Tensor | None = None, preserve: torch.Tensor | None = None,
                preservation: float = 0.0, snr_weights: torch.Tensor | None = None) -> LossParts:
    """The region-aware loss for one batch; ``weight``/``preserve`` are (B, 1, h, w) maps or None."""
    pred, target = pred.float(), target.float()
    if weight is None:
        if snr_weights is None:
            masked = F.mse_loss(pred, target, reduction="mean")
        else:
            per = F.mse_loss(pred, target, reduction="none").mean(dim=list(range(1, pred.ndim)))
            masked = (per * snr_weights).mean()
    else:
        w = weight.to(pred.dtype).expand_as(pred)
        dims = list(range(1, pred.ndim))
        per = (w * (pred - target) ** 2).sum(dim=dims) / w.sum(dim=dims).clamp_min(1e-8)
        masked = (per * snr_weights).mean() if snr_weights is not None else per.mean()
    if preservation > 0 and base_pred is not None:
        p = preserve.to(pred.dtype) if preserve is not None else torch.ones_like(pred[:, :1])
        kept = (p * (pred - base_pred.float()) ** 2).mean()
    else:
        kept = torch.zeros((), device=pred.device)
    return LossParts(total=masked + preservation * kept, masked=masked, preserve=kept)


def min_snr_weights(noise_scheduler, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-γ weights (Hang et al. 2023) for epsilon or v-prediction."""
    from diffusers.training_utils import compute_snr

    snr = compute_snr(noise_scheduler, timesteps)
    clipped = torch.minimum(snr, torch.full_like(snr, gamma))
    if noise_scheduler.config.prediction_type == "v_prediction":
        return clipped / (snr + 1)
    return clipped / snr
