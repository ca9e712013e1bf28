"""Trains the toyworld model from scratch on CPU: VAE first, then the UNet; resumable, logged to a file."""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from tuitune import atomic
from tuitune.toyworld import architecture
from tuitune.toyworld.world import WorldSampler, article


@dataclass
class PretrainConfig:
    vae_steps: int = 1200
    unet_steps: int = 3000
    batch_size: int = 64
    vae_batch_size: int = 32
    decoder_steps: int = 300  # optional decoder-only steps after the UNet: same latent space
    dataset_size: int = 8192
    seed: int = 0
    caption_dropout: float = 0.1
    short_caption_rate: float = 0.2  # share of captions without the background part
    watermark_rate: float = 0.6
    lr: float = 1e-3
    final_lr: float = 3e-4
    ema_decay: float = 0.995
    min_snr_gamma: float = 5.0
    checkpoint_every: int = 250
    threads: int = 2


def images_to_tensor(images: list) -> torch.Tensor:
    arr = np.stack([np.asarray(im, dtype=np.uint8) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


class Log:
    """Appends timestamped lines to ``pretrain.log`` and mirrors them to stdout."""

    def __init__(self, path: Path, echo: bool = True) -> None:
        self.path, self.echo = path, echo

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if self.echo:
            print(line, flush=True)


def _lr_at(step: int, total: int, cfg: PretrainConfig) -> float:
    warmup = min(100, total // 10)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def _resume(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, what: str,
            log: Callable[[str], None]) -> tuple[int, dict]:
    """Restore model and optimizer from a stage checkpoint: the step to go on from, and the whole state."""
    if not path.exists():
        return 0, {}
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    start = int(state["step"])
    log(f"{what}: resuming at step {start}")
    return start, state


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _write_progress(work: Path, **fields: object) -> None:
    atomic.write_json(work / "progress.json", {"time": time.time(), **fields})


def train_vae(work: Path, cfg: PretrainConfig, log: Callable[[str], None]):
    vae = architecture.build_vae()
    final = work / "vae.safetensors"
    if final.exists():
        vae.load_state_dict(load_file(final))
        log("VAE: already trained, loaded")
        return vae.eval()
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, weight_decay=0.0)
    ckpt = work / "vae_state.pt"
    start, _ = _resume(ckpt, vae, opt, "VAE", log)
    sampler = WorldSampler(seed=cfg.seed + 1 + start, watermark_rate=cfg.watermark_rate, max_objects=2)
    vae.train()
    t0 = time.time()
    for step in range(start, cfg.vae_steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg.vae_steps, cfg)
        x = images_to_tensor([sampler.sample().image for _ in range(cfg.vae_batch_size)])
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample()).sample
        # L1 keeps edges and the thin watermark sharp; MSE alone blurs them.
        rec = F.l1_loss(recon, x) + F.mse_loss(recon, x)
        kl = posterior.kl().mean() / (16 * 16 * 4)
        loss = rec + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if done % 25 == 0 or done == cfg.vae_steps:
            rate = (time.time() - t0) / (done - start)
            log(f"VAE step {done}/{cfg.vae_steps} rec {rec.item():.4f} kl {kl.item():.3f} "
                f"{rate:.2f} s/step, eta {rate * (cfg.vae_steps - done) / 60:.1f} min")
            _write_progress(work, stage="vae", step=done, total=cfg.vae_steps, loss=rec.item())
        if done % cfg.checkpoint_every == 0 and done < cfg.vae_steps:
            _save_checkpoint(ckpt, {"model": vae.state_dict(), "opt": opt.state_dict(), "step": done})
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, final)
    log(f"VAE: trained in {(time.time() - t0) / 60:.1f} min")
    return vae.eval()


def refine_decoder(work: Path, vae, cfg: PretrainConfig, log: Callable[[str], None]):
    """Train the decoder alone on the frozen encoder's latents; the UNet's latent space is unchanged."""
    final = work / "vae_refined.safetensors"
    if final.exists():
        vae.load_state_dict(load_file(final))
        log("decoder: already refined, loaded")
        return vae.eval()
    if cfg.decoder_steps <= 0:
        return vae
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.final_lr, weight_decay=0.0)
    ckpt = work / "decoder_state.pt"
    start, _ = _resume(ckpt, vae, opt, "decoder", log)
    sampler = WorldSampler(seed=cfg.seed + 3000 + start, watermark_rate=cfg.watermark_rate, max_objects=2)
    vae.train()
    t0 = time.time()
    for step in range(start, cfg.decoder_steps):
        x = images_to_tensor([sampler.sample().image for _ in range(cfg.vae_batch_size)])
        with torch.no_grad():
            z = vae.encode(x).latent_dist.sample()
        recon = vae.decode(z).sample
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if done % 25 == 0 or done == cfg.decoder_steps:
            rate = (time.time() - t0) / (done - start)
            log(f"decoder step {done}/{cfg.decoder_steps} rec {loss.item():.4f} {rate:.2f} s/step, "
                f"eta {rate * (cfg.decoder_steps - done) / 60:.1f} min")
        if done % cfg.checkpoint_every == 0 and done < cfg.decoder_steps:
            _save_checkpoint(ckpt, {"model": vae.state_dict(), "opt": opt.state_dict(), "step": done})
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, final)
    log(f"decoder: refined in {(time.time() - t0) / 60:.1f} min")
    return vae.eval()


@dataclass
class LatentSet:
    mean: torch.Tensor
    std: torch.Tensor
    caption_ids: torch.Tensor  # index into captions
    captions: list[str]


@torch.no_grad()
def encode_dataset(vae, cfg: PretrainConfig, log: Callable[[str], None]) -> LatentSet:
    sampler = WorldSampler(seed=cfg.seed + 1000, watermark_rate=cfg.watermark_rate)
    rng = random.Random(cfg.seed + 2000)
    means, stds, ids, captions, index = [], [], [], [], {}
    t0 = time.time()
    for start in range(0, cfg.dataset_size, 256):
        batch = [sampler.sample() for _ in range(min(256, cfg.dataset_size - start))]
        dist = vae.encode(images_to_tensor([r.image for r in batch])).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
        for r in batch:
            text = r.caption
            if rng.random() < cfg.short_caption_rate:
                obj = " and ".join(f"{article(o.colour)} {o.colour} {o.shape}" for o in r.scene.objects)
                text = obj + (", with a watermark" if r.scene.watermark else "")
            ids.append(index.setdefault(text, len(index)))
            if len(index) > len(captions):
                captions.append(text)
    log(f"encoded {cfg.dataset_size} images ({len(captions)} distinct captions) in {time.time() - t0:.0f} s")
    return LatentSet(torch.cat(means), torch.cat(stds), torch.tensor(ids), captions)


@torch.no_grad()
def embed_captions(tokenizer, text_encoder, captions: list[str]) -> torch.Tensor:
    out = []
    for start in range(0, len(captions), 256):
        tokens = tokenizer(captions[start : start + 256], padding="max_length", truncation=True,
                           max_length=tokenizer.model_max_length, return_tensors="pt")
        out.append(text_encoder(tokens.input_ids)[0])
    return torch.cat(out)


def train_unet(work: Path, vae, tokenizer, text_encoder, cfg: PretrainConfig, log: Callable[[str], None]):
    data = encode_dataset(vae, cfg, log)
    scaling = float(1.0 / data.mean.std())
    log(f"latent scaling factor {scaling:.4f}")
    cond = embed_captions(tokenizer, text_encoder, data.captions)
    uncond = embed_captions(tokenizer, text_encoder, [""])
    scheduler = architecture.build_scheduler()
    alphas = scheduler.alphas_cumprod
    unet = architecture.build_unet()
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=1e-2)
    ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    ckpt = work / "unet_state.pt"
    start, state = _resume(ckpt, unet, opt, "UNet", log)
    ema = state.get("ema", ema)
    gen = torch.Generator().manual_seed(cfg.seed + start)
    unet.train()
    t0 = time.time()
    for step in range(start, cfg.unet_steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg.unet_steps, cfg)
        idx = torch.randint(0, len(data.caption_ids), (cfg.batch_size,), generator=gen)
        latents = (data.mean[idx] + data.std[idx] * torch.randn(data.mean[idx].shape, generator=gen)) * scaling
        text = cond[data.caption_ids[idx]]
        drop = torch.rand(cfg.batch_size, generator=gen) < cfg.caption_dropout
        text = torch.where(drop[:, None, None], uncond.expand_as(text), text)
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (cfg.batch_size,), generator=gen)
        noisy = scheduler.add_noise(latents, noise, t)
        pred = unet(noisy, t, text).sample
        snr = alphas[t] / (1 - alphas[t])
        weight = torch.clamp(snr, max=cfg.min_snr_gamma) / snr
        loss = (F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3)) * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        # Warm-up keeps the average from remembering the random initial weights for long.
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in unet.state_dict().items():
                if v.dtype.is_floating_point:
                    ema[k].mul_(decay).add_(v, alpha=1 - decay)
                else:
                    ema[k].copy_(v)
        done = step + 1
        if done % 25 == 0 or done == cfg.unet_steps:
            rate = (time.time() - t0) / (done - start)
            log(f"UNet step {done}/{cfg.unet_steps} loss {loss.item():.4f} "
                f"{rate:.2f} s/step, eta {rate * (cfg.unet_steps - done) / 60:.1f} min")
            _write_progress(work, stage="unet", step=done, total=cfg.unet_steps, loss=loss.item())
        if done % cfg.checkpoint_every == 0 and done < cfg.unet_steps:
            _save_checkpoint(ckpt, {"model": unet.state_dict(), "opt": opt.state_dict(), "ema": ema,
                                    "step": done})
    if start < cfg.unet_steps:
        _save_checkpoint(ckpt, {"model": unet.state_dict(), "opt": opt.state_dict(), "ema": ema,
                                "step": max(start, cfg.unet_steps)})
    unet.load_state_dict(ema)
    log(f"UNet: trained in {(time.time() - t0) / 60:.1f} min")
    return unet.eval(), scaling


def _load_or_build_text_encoder(work: Path, cfg: PretrainConfig):
    path = work / "text_encoder.safetensors"
    encoder = architecture.build_text_encoder(seed=cfg.seed)
    if path.exists():
        encoder.load_state_dict(load_file(path))
    else:
        save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, path)
    return encoder


def pretrain(out: Path, cfg: PretrainConfig, echo: bool = True) -> Path:
    """Train (or resume) and write a StableDiffusionPipeline folder to ``out``; returns ``out``."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    torch.set_num_threads(cfg.threads)
    work = out / "pretrain-state"
    work.mkdir(parents=True, exist_ok=True)
    log = Log(out / "pretrain.log", echo=echo)
    atomic.write_json(work / "config.json", asdict(cfg))
    t0 = time.time()
    log(f"pretraining into {out} with {json.dumps(asdict(cfg))}")
    tokenizer = architecture.build_tokenizer()
    text_encoder = _load_or_build_text_encoder(work, cfg)
    vae = train_vae(work, cfg, log)
    unet, scaling = train_unet(work, vae, tokenizer, text_encoder, cfg, log)
    vae = refine_decoder(work, vae, cfg, log)
    vae.register_to_config(scaling_factor=scaling)
    scheduler = DPMSolverMultistepScheduler.from_config(architecture.build_scheduler().config,
                                                        algorithm_type="dpmsolver++")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.to(torch.float16).save_pretrained(out, safe_serialization=True)
    _write_progress(work, stage="done", step=cfg.unet_steps, total=cfg.unet_steps)
    log(f"done in {(time.time() - t0) / 60:.1f} min (this session); pipeline saved to {out}")
    return out
