"""Tiny SD1.x- and SDXL-architecture pipelines built from configs, saved as diffusers folders for tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

WORDS = ["a", "photo", "of", "sks", "cat", "dog", "red", "blue", "green", "square", "circle", "watermark",
         "background", "toy", "with", "on", "the", "style"]


def build_tokenizer(folder: Path):
    """A CLIP BPE tokenizer with a small vocabulary (bytes + a few whole words), written as files."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab_tokens = chars + [c + "</w>" for c in chars]
    merges: list[str] = []
    for word in WORDS:
        # Merge the word left to right so it ends up as one token.
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append(f"{pieces[0]} {pieces[1]}")
            merged = pieces[0] + pieces[1]
            vocab_tokens.append(merged)
            pieces = [merged] + pieces[2:]
    vocab_tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab: dict[str, int] = {}
    for token in vocab_tokens:
        vocab.setdefault(token, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    unique_merges = list(dict.fromkeys(merges))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(unique_merges) + "\n", encoding="utf-8")
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=16)


def _byte_chars() -> list[str]:
    """GPT-2's printable stand-in character for each of the 256 bytes (the byte-level BPE alphabet)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _text_encoder(vocab_size: int, projection: bool, hidden: int = 32):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=16, projection_dim=hidden, bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1, hidden_act="gelu",
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), layers_per_block=1, norm_num_groups=4,
        sample_size=32,
    )


def _scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         num_train_timesteps=1000, clip_sample=False, steps_offset=1)


def build_sd1(folder: Path, seed: int = 0) -> Path:
    """Save a tiny SD1.x-architecture StableDiffusionPipeline into ``folder``."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(folder / "_tok")
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
    )
    pipe = StableDiffusionPipeline(
        vae=_vae(), text_encoder=_text_encoder(len(tokenizer), False), tokenizer=tokenizer, unet=unet,
        scheduler=_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder


def build_sdxl(folder: Path, seed: int = 0) -> Path:
    """Save a tiny SDXL-architecture StableDiffusionXLPipeline (two text encoders, time ids) into ``folder``."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(folder / "_tok")
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=64, attention_head_dim=(2, 4), norm_num_groups=8, use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=32 + 6 * 8,
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae(), text_encoder=_text_encoder(len(tokenizer), False),
        text_encoder_2=_text_encoder(len(tokenizer), True), tokenizer=tokenizer, tokenizer_2=tokenizer,
        unet=unet, scheduler=_scheduler(),
    )
    pipe.save_pretrained(folder)
    return folder


def make_dataset(folder: Path, count: int = 4, size: int = 32, with_masks: bool = False) -> Path:
    """A small image folder: coloured squares on a grey field, captions, optional 'watermark' masks."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    colours = [(220, 40, 40), (40, 40, 220), (40, 200, 40), (200, 200, 40)]
    for i in range(count):
        img = np.full((size, size, 3), 128, np.uint8)
        a, b = size // 4, 3 * size // 4
        img[a:b, a:b] = colours[i % len(colours)]
        img = np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
        img[: size // 4, : size // 4] = 255  # a "watermark" corner
        Image.fromarray(img).save(folder / f"img{i}.png")
        (folder / f"img{i}.txt").write_text("a photo of sks square", encoding="utf-8")
        if with_masks:
            mask = np.zeros((size, size), np.uint8)
            mask[: size // 4, : size // 4] = 255
            (folder / "masks" / f"img{i}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask).save(folder / "masks" / f"img{i}" / "watermark.png")
    return folder


def config_dict(base: Path, images: Path, **sections: dict) -> dict:
    """A small training config for the tiny models; ``sections`` override/extend the defaults."""
    data = {
        "model": {"base": str(base)},
        "data": {"folder": str(images), "resolution": 32},
        "lora": {"rank": 4, "alpha": 4},
        "train": {"steps": 10, "lr": 1e-3, "seed": 0, "device": "cpu"},
        "checkpoints": {"every": 0, "keep": 2},
        "samples": {"every": 0},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def write_config(path: Path, data: dict) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path
