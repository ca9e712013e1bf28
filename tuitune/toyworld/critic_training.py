"""Train the toyworld's defect critic on generated pictures with exact defect masks, and measure it held out.

``tuitune toyworld train-critic --out DIR`` writes ``DIR/critic.safetensors`` and ``DIR/report.json``; the
critic shipped in ``tuitune/toyworld/critic/`` was made this way (its README says the command and figures).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HELD_OUT_SEED = 10_000_000  # training pictures use seeds below this, the measurement seeds from here on


def shipped_critic_path() -> Path:
    return Path(__file__).resolve().parent / "critic" / "critic.safetensors"


def shipped_critic(**options: Any) -> Any:
    """The shipped critic as a fix reward (``reward = "toyworld-critic"``)."""
    from tuitune.fix.rewards import CriticReward

    return CriticReward(shipped_critic_path(), **options)


@dataclass
class CriticTraining:
    steps: int = 800
    batch_size: int = 16
    lr: float = 2e-3
    seed: int = 0
    threads: int = 2
    held_out: int = 512
    # Share of pictures passed through the toyworld model's VAE first: its samples carry the decoder's soft,
    # fringed edges, and the critic must learn that those are no defect.
    through_vae: float = 0.75


def train_critic(out: Path, cfg: CriticTraining, log: Any = print) -> dict[str, Any]:
    """Train from scratch, write the weights and a report of held-out per-pixel precision, recall and IoU."""
    import torch

    from tuitune.fix.networks import DefectCritic, save_network
    from tuitune.toyworld.defects import batch

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    decode = vae_roundtrip()
    net = DefectCritic()
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.steps)
    # Defects cover about 1% of the pixels: weigh them up so the critic does not learn to say "none".
    pos_weight = torch.tensor(4.0)
    start = time.time()
    for step in range(cfg.steps):
        first = cfg.seed * 1_000_003 + step * cfg.batch_size
        images, masks = batch(range(first, first + cfg.batch_size))
        inputs = decode(torch.from_numpy(images), cfg.through_vae, first)
        logits = net(inputs)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.from_numpy(masks).float(), pos_weight=pos_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 100 == 0 or step == 0:
            log(f"step {step + 1}/{cfg.steps} loss {loss.item():.4f} ({time.time() - start:.0f} s)")
    net.eval()
    figures = measure(net, range(HELD_OUT_SEED, HELD_OUT_SEED + cfg.held_out), decode=decode,
                      through_vae=cfg.through_vae)
    report = {"config": asdict(cfg), "wall_seconds": round(time.time() - start, 1), "held_out": figures}
    save_network(net, out / "critic.safetensors", {"trained_by": "tuitune toyworld train-critic"})
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def vae_roundtrip() -> Any:
    """``decode(images, share, seed)``: that share of the pictures (chosen by seed) encoded and decoded by the
    toyworld model's VAE, the rest as they are."""
    import torch

    from tuitune.train.base_model import load_base

    vae = load_base("toyworld").vae.float().eval().requires_grad_(False)

    def decode(images: torch.Tensor, share: float, seed: int) -> torch.Tensor:
        if share <= 0:
            return images
        pick = torch.rand(len(images), generator=torch.Generator().manual_seed(seed)) < share
        if not pick.any():
            return images
        with torch.no_grad():
            latents = vae.encode(images[pick] * 2 - 1).latent_dist.mode()
            decoded = (vae.decode(latents).sample / 2 + 0.5).clamp(0, 1)
        out = images.clone()
        out[pick] = decoded
        return out

    return decode


def measure(net: Any, seeds: range, threshold: float = 0.5, decode: Any = None,
            through_vae: float = 0.0) -> dict[str, float]:
    """Per-pixel precision, recall and IoU of the critic's map at ``threshold`` on generated pictures (that
    share through the VAE), and the share of pictures with the world's watermark in which it marks at least
    half of the watermark."""
    import numpy as np
    import torch

    from tuitune.toyworld.defects import batch
    from tuitune.toyworld.world import watermark_box

    tp = fp = fn = 0
    found = marked = 0
    x0, y0, x1, y1 = watermark_box()
    seeds = list(seeds)
    for start in range(0, len(seeds), 64):
        images, masks = batch(seeds[start : start + 64])
        inputs = torch.from_numpy(images)
        if decode is not None:
            inputs = decode(inputs, through_vae, seeds[start])
        with torch.no_grad():
            said = (torch.sigmoid(net(inputs)) >= threshold).numpy()
        tp += int((said & masks).sum())
        fp += int((said & ~masks).sum())
        fn += int((~said & masks).sum())
        corner = masks[:, y0:y1, x0:x1].all(axis=(1, 2))
        found += int(corner.sum())
        marked += int((said[:, y0:y1, x0:x1].mean(axis=(1, 2)) >= 0.5)[corner].sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    iou = tp / (tp + fp + fn) if tp + fp + fn else 0.0
    return {"pictures": len(seeds), "precision": round(precision, 4), "recall": round(recall, 4),
            "iou": round(iou, 4), "watermarks_found": round(marked / found, 4) if found else float(np.nan)}
