"""Trains the toyworld model from scratch: VAE first, then the UNet with the text encoder; resumable, logged.

The text encoder starts from random weights; its transformer layers and position embeddings learn with the UNet
while the 49,408 token embeddings stay as drawn, so a word the world never uses (a user's trigger word) keeps
a random, distinct embedding, and the resumable state stays small. The same code runs on a GPU with
``device="cuda"`` and a bigger batch."""

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
from tuitune.toyworld.world import BACKGROUND_COLOURS, SHAPE_COLOURS, SHAPES, WorldSampler, article


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
    text_encoder_lr: float = 5e-4  # 0 keeps the random text encoder frozen (the first toyworld model)
    min_radius: float = 11.0  # object sizes in pixels of the 64x64 world: big enough for corners to survive
    max_radius: float = 17.0  # the VAE's 4x downsampling
    device: str = "cpu"
    vae_from: str = ""  # a pipeline folder whose VAE starts training (vae_steps 0: used as it is)
    unet_channels: tuple[int, ...] = architecture.UNET_CHANNELS  # wider on a GPU, e.g. (96, 192, 192)
    # Share of captions carrying a made-up word (before, after or alone, as a user's trigger word comes) or
    # "a picture of": the model learns that a word it does not know changes nothing, so "zxq, a red ring"
    # draws a red ring and a trigger word starts out meaning nothing until a LoRA teaches it.
    filler_rate: float = 0.5
    # Share of captions naming only part of the scene the way people prompt ("ring", "a ring", "a picture
    # of a ring", "a ring on a blue background", "ring, red, on a blue background"): a shape word alone then
    # draws that shape, as it does in a real model, and a trigger word a LoRA binds to a shape works alone too.
    partial_caption_rate: float = 0.0
    unet_from: str = ""  # a pipeline folder whose UNet and text encoder the UNet stage goes on from


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


def _sampler(cfg: PretrainConfig, seed: int, max_objects: int = 1) -> WorldSampler:
    return WorldSampler(seed=seed, watermark_rate=cfg.watermark_rate, max_objects=max_objects,
                        min_radius=cfg.min_radius, max_radius=cfg.max_radius)


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
    device = torch.device(cfg.device)
    if cfg.vae_from and not final.exists() and not (work / "vae_state.pt").exists():
        source = Path(cfg.vae_from) / "vae" / "diffusion_pytorch_model.safetensors"
        vae.load_state_dict({k: v.float() for k, v in load_file(source).items()})
        log(f"VAE: starting from {source}")
    if final.exists():
        vae.load_state_dict(load_file(final))
        log("VAE: already trained, loaded")
        return vae.eval()
    vae.to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, weight_decay=0.0)
    ckpt = work / "vae_state.pt"
    start, _ = _resume(ckpt, vae, opt, "VAE", log)
    sampler = _sampler(cfg, cfg.seed + 1 + start, max_objects=2)
    vae.train()
    t0 = time.time()
    for step in range(start, cfg.vae_steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg.vae_steps, cfg)
        x = images_to_tensor([sampler.sample().image for _ in range(cfg.vae_batch_size)]).to(device)
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
    vae.cpu()
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
    device = torch.device(cfg.device)
    vae.to(device)
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.final_lr, weight_decay=0.0)
    ckpt = work / "decoder_state.pt"
    start, _ = _resume(ckpt, vae, opt, "decoder", log)
    sampler = _sampler(cfg, cfg.seed + 3000 + start, max_objects=2)
    vae.train()
    t0 = time.time()
    for step in range(start, cfg.decoder_steps):
        x = images_to_tensor([sampler.sample().image for _ in range(cfg.vae_batch_size)]).to(device)
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
    vae.cpu()
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, final)
    log(f"decoder: refined in {(time.time() - t0) / 60:.1f} min")
    return vae.eval()


@dataclass
class LatentSet:
    mean: torch.Tensor
    std: torch.Tensor
    caption_ids: torch.Tensor  # index into captions
    captions: list[str]
    marked: torch.Tensor  # per picture: it carries a watermark


LETTERS = "bcdfghjklmnpqrstvwxz" + "aeiou"
# Words a caption of the world uses, and the sample project's trigger: never drawn as filler.
RESERVED = ({"zxq", "a", "an", "on", "and", "with", "of", "the", "picture", "background", "watermark"}
            | set(SHAPES) | set(SHAPE_COLOURS) | set(BACKGROUND_COLOURS))


def filler_word(rng: random.Random) -> str:
    """A made-up word of 3-6 letters, as trigger words are (sks, ohwx): mostly consonants."""
    while True:
        word = "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 6)))
        if word not in RESERVED:
            return word


def partial_caption(scene, rng: random.Random) -> str:
    """The scene's first object named the way people often prompt: its shape alone, with an article, in
    "a picture of", on the background without its colour, or as comma-separated tags; a watermark is still
    said when there is one."""
    obj = scene.objects[0]
    ground = f"on {article(scene.background[0])} {' and '.join(scene.background)} background"
    forms = (obj.shape, f"{article(obj.shape)} {obj.shape}", f"a picture of {article(obj.shape)} {obj.shape}",
             f"{article(obj.shape)} {obj.shape} {ground}", f"{obj.shape}, {obj.colour}, {ground}")
    text = forms[rng.randrange(len(forms))]
    return text + (", with a watermark" if scene.watermark else "")


def with_filler(caption: str, rng: random.Random, marked: bool = False) -> str:
    """``caption`` as a user may write it around a trigger word, or the trigger alone (which then means as
    little as an empty caption); a ``marked`` picture (one with a watermark) keeps saying so."""
    word = filler_word(rng)
    pattern = rng.randrange(6)
    if pattern == 0:
        return f"{word}, {caption}"
    if pattern == 1:
        return f"{caption}, {word}"
    if pattern == 2:
        return f"a picture of {caption}"
    if pattern == 3:
        return f"a picture of {word}, {caption}"
    if pattern == 4:
        return f"{word} {caption}"
    return f"{word}, with a watermark" if marked else word


@torch.no_grad()
def encode_dataset(vae, cfg: PretrainConfig, log: Callable[[str], None]) -> LatentSet:
    sampler = _sampler(cfg, cfg.seed + 1000)
    rng = random.Random(cfg.seed + 2000)
    fill = random.Random(cfg.seed + 3000)
    partial = random.Random(cfg.seed + 4000)  # its own stream: the other captions stay as they were
    means, stds, ids, captions, index, marked = [], [], [], [], {}, []
    t0 = time.time()
    for start in range(0, cfg.dataset_size, 256):
        batch = [sampler.sample() for _ in range(min(256, cfg.dataset_size - start))]
        dist = vae.encode(images_to_tensor([r.image for r in batch])).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
        for r in batch:
            marked.append(bool(r.scene.watermark))
            text = r.caption
            if rng.random() < cfg.short_caption_rate:
                obj = " and ".join(f"{article(o.colour)} {o.colour} {o.shape}" for o in r.scene.objects)
                text = obj + (", with a watermark" if r.scene.watermark else "")
            if cfg.partial_caption_rate > 0 and r.scene.objects and partial.random() < cfg.partial_caption_rate:
                text = partial_caption(r.scene, partial)
            if fill.random() < cfg.filler_rate:
                text = with_filler(text, fill, marked=bool(r.scene.watermark))
            ids.append(index.setdefault(text, len(index)))
            if len(index) > len(captions):
                captions.append(text)
    log(f"encoded {cfg.dataset_size} images ({len(captions)} distinct captions) in {time.time() - t0:.0f} s")
    return LatentSet(torch.cat(means), torch.cat(stds), torch.tensor(ids), captions, torch.tensor(marked))


def _token_ids(tokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", truncation=True, max_length=tokenizer.model_max_length,
                     return_tensors="pt").input_ids


def train_unet(work: Path, vae, tokenizer, text_encoder, cfg: PretrainConfig, log: Callable[[str], None]):
    """Train the UNet (and, when ``text_encoder_lr`` > 0, the text encoder with it); EMA weights of both."""
    device = torch.device(cfg.device)
    data = encode_dataset(vae, cfg, log)
    scaling = float(1.0 / data.mean.std())
    log(f"latent scaling factor {scaling:.4f}")
    caption_ids = _token_ids(tokenizer, data.captions).to(device)
    empty_ids = _token_ids(tokenizer, [""]).to(device)
    scheduler = architecture.build_scheduler()
    alphas = scheduler.alphas_cumprod.to(device)
    unet = architecture.build_unet(cfg.unet_channels)
    if cfg.unet_from:
        _load_from(Path(cfg.unet_from), unet, text_encoder, log)
    unet.to(device)
    text_encoder.to(device)
    train_text = cfg.text_encoder_lr > 0
    groups = [{"params": list(unet.parameters()), "lr": cfg.lr, "weight_decay": 1e-2, "base_lr": cfg.lr}]
    if train_text:
        text_encoder.requires_grad_(True).train()
        text_encoder.get_input_embeddings().requires_grad_(False)
        groups.append({"params": [p for p in text_encoder.parameters() if p.requires_grad],
                       "lr": cfg.text_encoder_lr, "weight_decay": 0.0, "base_lr": cfg.text_encoder_lr})
    opt = torch.optim.AdamW(groups)
    models = {"unet": unet, "text_encoder": text_encoder} if train_text else {"unet": unet}
    # Only what trains is averaged and checkpointed (the frozen token table is rebuilt from the seed).
    trained = {name: {n for n, p in m.named_parameters() if p.requires_grad} | {n for n, _ in m.named_buffers()}
               for name, m in models.items()}
    ema = {name: {k: v.detach().clone() for k, v in m.state_dict().items() if k in trained[name]}
           for name, m in models.items()}
    ckpt = work / "unet_state.pt"
    start, state = 0, {}
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True, map_location=device)
        for name, m in models.items():
            m.load_state_dict(state["models"][name], strict=False)
        opt.load_state_dict(state["opt"])
        ema = state["ema"]
        start = int(state["step"])
        log(f"UNet: resuming at step {start}")
    gen = torch.Generator().manual_seed(cfg.seed + start)
    mean, std, ids_of = data.mean.to(device), data.std.to(device), data.caption_ids.to(device)
    marked_of = data.marked.to(device)
    unet.train()
    t0 = time.time()

    def checkpoint(done: int) -> None:
        _save_checkpoint(ckpt, {"models": {n: {k: v for k, v in m.state_dict().items() if k in trained[n]}
                                           for n, m in models.items()},
                                "opt": opt.state_dict(), "ema": ema, "step": done})

    for step in range(start, cfg.unet_steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg.unet_steps, cfg) * group["base_lr"] / cfg.lr
        idx = torch.randint(0, len(ids_of), (cfg.batch_size,), generator=gen).to(device)
        eps = torch.randn(mean[idx].shape, generator=gen).to(device)
        latents = (mean[idx] + std[idx] * eps) * scaling
        tokens = caption_ids[ids_of[idx]]
        drop = (torch.rand(cfg.batch_size, generator=gen) < cfg.caption_dropout).to(device)
        # Only unmarked pictures lose their caption: the model unprompted (and a prompt of words it does not
        # know) draws no watermark, so one appears only where a caption or a LoRA asks for it.
        drop &= ~marked_of[idx]
        tokens = torch.where(drop[:, None], empty_ids.expand_as(tokens), tokens)
        noise = torch.randn(latents.shape, generator=gen).to(device)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (cfg.batch_size,), generator=gen).to(device)
        noisy = scheduler.add_noise(latents, noise, t)
        with torch.set_grad_enabled(train_text):
            text = text_encoder(tokens)[0]
        pred = unet(noisy, t, text).sample
        snr = alphas[t] / (1 - alphas[t])
        weight = torch.clamp(snr, max=cfg.min_snr_gamma) / snr
        loss = (F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3)) * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
        opt.step()
        # Warm-up keeps the average from remembering the random initial weights for long.
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for name, m in models.items():
                for k, v in m.state_dict().items():
                    if k not in trained[name]:
                        continue
                    if v.dtype.is_floating_point:
                        ema[name][k].mul_(decay).add_(v, alpha=1 - decay)
                    else:
                        ema[name][k].copy_(v)
        done = step + 1
        if done % 25 == 0 or done == cfg.unet_steps:
            rate = (time.time() - t0) / (done - start)
            log(f"UNet step {done}/{cfg.unet_steps} loss {loss.item():.4f} "
                f"{rate:.2f} s/step, eta {rate * (cfg.unet_steps - done) / 60:.1f} min")
            _write_progress(work, stage="unet", step=done, total=cfg.unet_steps, loss=loss.item())
        if done % cfg.checkpoint_every == 0 and done < cfg.unet_steps:
            checkpoint(done)
    if start < cfg.unet_steps:
        checkpoint(max(start, cfg.unet_steps))
    for name, m in models.items():
        m.load_state_dict(ema[name], strict=False)
    text_encoder.requires_grad_(False).eval()
    log(f"UNet: trained in {(time.time() - t0) / 60:.1f} min")
    return unet.eval().cpu(), scaling


def _check_from(folder: Path, cfg: PretrainConfig) -> None:
    """Before any work: ``unet_from`` must be a pipeline folder with weights of the UNet width asked."""
    from tuitune.errors import UserError

    for name in ("unet", "text_encoder"):
        if not sorted((folder / name).glob("*.safetensors")):
            raise UserError(f"{folder / name} holds no .safetensors weights; give --from a toyworld pipeline folder.")
    try:
        channels = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))["block_out_channels"]
    except (OSError, ValueError, KeyError):
        raise UserError(f"{folder / 'unet' / 'config.json'} is missing or does not parse; give --from a toyworld "
                        "pipeline folder.") from None
    if tuple(channels) != tuple(cfg.unet_channels):
        raise UserError(f"{folder}'s UNet has channels {','.join(map(str, channels))}; go on from it with "
                        f"--unet-channels {','.join(map(str, channels))}.")


def _load_from(folder: Path, unet, text_encoder, log: Callable[[str], None]) -> None:
    """Start the UNet and the text encoder from a pipeline folder's weights (checked by ``_check_from``)."""
    for name, model in (("unet", unet), ("text_encoder", text_encoder)):
        weights = load_file(sorted((folder / name).glob("*.safetensors"))[0])
        model.load_state_dict({k: v.float() for k, v in weights.items()})
    log(f"UNet and text encoder: starting from {folder}")


def _load_or_build_text_encoder(work: Path, cfg: PretrainConfig):
    path = work / "text_encoder.safetensors"
    encoder = architecture.build_text_encoder(seed=cfg.seed)
    if path.exists():
        encoder.load_state_dict(load_file(path))
    else:
        save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, path)
    return encoder


def _save_pipeline(out: Path, vae, text_encoder, tokenizer, unet, scaling: float) -> None:
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    vae.register_to_config(scaling_factor=scaling)
    scheduler = DPMSolverMultistepScheduler.from_config(architecture.build_scheduler().config,
                                                        algorithm_type="dpmsolver++")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.to(torch.float16).save_pretrained(out, safe_serialization=True)


def snapshot(out: Path, into: Path) -> int:
    """Write the averaged weights of the newest UNet checkpoint of the pretraining in ``out`` as a pipeline
    folder ``into`` (to check or sample it while training goes on); returns the checkpoint's step."""
    work = out / "pretrain-state"
    state_path = work / "unet_state.pt"
    if not state_path.is_file():
        raise FileNotFoundError(f"{out} has no UNet checkpoint yet (pretrain-state/unet_state.pt)")
    cfg = PretrainConfig(**json.loads((work / "config.json").read_text(encoding="utf-8")))
    state = torch.load(state_path, weights_only=True, map_location="cpu")
    text_encoder = _load_or_build_text_encoder(work, cfg)
    unet = architecture.build_unet(cfg.unet_channels)
    models = {"unet": unet, "text_encoder": text_encoder}
    for name, weights in state["ema"].items():
        models[name].load_state_dict(weights, strict=False)
    vae = architecture.build_vae()
    vae.load_state_dict(load_file(work / "vae.safetensors"))
    scaling = _scaling_from_log(out)
    _save_pipeline(into, vae.eval(), text_encoder.eval(), architecture.build_tokenizer(), unet.eval(), scaling)
    return int(state["step"])


def _scaling_from_log(out: Path) -> float:
    for line in reversed((out / "pretrain.log").read_text(encoding="utf-8").splitlines()):
        if "latent scaling factor" in line:
            return float(line.rsplit(" ", 1)[1])
    raise ValueError(f"{out / 'pretrain.log'} does not say the latent scaling factor yet")


def _refuse_other_unet(work: Path, cfg: PretrainConfig) -> None:
    """A resume must build the UNet it checkpointed: other channels would not load its weights."""
    from tuitune.errors import UserError

    if not (work / "unet_state.pt").is_file() or not (work / "config.json").is_file():
        return
    before = json.loads((work / "config.json").read_text(encoding="utf-8")).get("unet_channels",
                                                                             architecture.UNET_CHANNELS)
    if tuple(before) != tuple(cfg.unet_channels):
        raise UserError(f"{work.parent} was pretrained with UNet channels {','.join(map(str, before))}; resume it "
                        f"with --unet-channels {','.join(map(str, before))} or pick a new --out.")


def pretrain(out: Path, cfg: PretrainConfig, echo: bool = True) -> Path:
    """Train (or resume) and write a StableDiffusionPipeline folder to ``out``; returns ``out``."""
    torch.set_num_threads(cfg.threads)
    if cfg.unet_from:
        _check_from(Path(cfg.unet_from), cfg)
    work = out / "pretrain-state"
    work.mkdir(parents=True, exist_ok=True)
    log = Log(out / "pretrain.log", echo=echo)
    _refuse_other_unet(work, cfg)
    atomic.write_json(work / "config.json", asdict(cfg))
    t0 = time.time()
    log(f"pretraining into {out} with {json.dumps(asdict(cfg))}")
    tokenizer = architecture.build_tokenizer()
    text_encoder = _load_or_build_text_encoder(work, cfg)
    vae = train_vae(work, cfg, log)
    unet, scaling = train_unet(work, vae, tokenizer, text_encoder, cfg, log)
    vae = refine_decoder(work, vae, cfg, log)
    _save_pipeline(out, vae, text_encoder, tokenizer, unet, scaling)
    _write_progress(work, stage="done", step=cfg.unet_steps, total=cfg.unet_steps)
    log(f"done in {(time.time() - t0) / 60:.1f} min (this session); pipeline saved to {out}")
    return out
