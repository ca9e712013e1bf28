"""Tiny SD1.x- and SDXL-architecture pipelines built from configs, saved as diffusers folders for tests.

Also writes a pipeline as one original-layout (LDM/CompVis) checkpoint, the format A1111 and civitai files
use, so single-file loading is tested on realistic key names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
        # An explicit cache beside the images: a config built from a dict would otherwise cache under the cwd.
        "train": {"steps": 10, "lr": 1e-3, "seed": 0, "device": "cpu", "cache_dir": str(Path(images).parent / "cache")},
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


# --- original (LDM) single-file layout ------------------------------------------------------------------
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer.text_model."

RESNET_UNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
               ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
VAE_ATTENTION = [("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")]
TOP_UNET = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
            "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
            "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}


def _swap(text: str, pairs: list[tuple[str, str]]) -> str:
    """Rename the leading module name of ``text`` (``norm1.weight`` -> ``in_layers.0.weight``)."""
    for new, old in pairs:
        if text.startswith(new + "."):
            return old + text[len(new):]
    return text


def unet_to_ldm(state: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    per = config["layers_per_block"]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        module, param = ".".join(parts[:-1]), parts[-1]
        if module in TOP_UNET:
            out[f"{TOP_UNET[module]}.{param}"] = value
            continue
        if parts[0] == "down_blocks":
            i, kind = int(parts[1]), parts[2]
            if kind == "downsamplers":
                new = f"input_blocks.{1 + i * (per + 1) + per}.0.op." + ".".join(parts[5:])
            else:
                j, rest = int(parts[3]), ".".join(parts[4:])
                index = 1 + i * (per + 1) + j
                new = f"input_blocks.{index}.0.{_swap(rest, RESNET_UNET)}" if kind == "resnets" \
                    else f"input_blocks.{index}.1.{rest}"
        elif parts[0] == "mid_block":
            j, rest = int(parts[2]), ".".join(parts[3:])
            new = f"middle_block.{2 * j}.{_swap(rest, RESNET_UNET)}" if parts[1] == "resnets" \
                else f"middle_block.1.{rest}"
        elif parts[0] == "up_blocks":
            i, kind = int(parts[1]), parts[2]
            if kind == "upsamplers":
                has_attention = any(k.startswith(f"up_blocks.{i}.attentions.") for k in state)
                new = f"output_blocks.{i * (per + 1) + per}.{2 if has_attention else 1}.conv." + ".".join(parts[5:])
            else:
                j, rest = int(parts[3]), ".".join(parts[4:])
                index = i * (per + 1) + j
                new = f"output_blocks.{index}.0.{_swap(rest, RESNET_UNET)}" if kind == "resnets" \
                    else f"output_blocks.{index}.1.{rest}"
        else:
            raise KeyError(f"no original-layout name for UNet tensor {key}")
        out[new] = value
    return out


def vae_to_ldm(state: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    blocks = len(config["block_out_channels"])
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        side = parts[0]
        if parts[1] in ("down_blocks", "up_blocks"):
            i = int(parts[2]) if parts[1] == "down_blocks" else blocks - 1 - int(parts[2])
            level = "down" if parts[1] == "down_blocks" else "up"
            if parts[3] in ("downsamplers", "upsamplers"):
                sampler = "downsample" if level == "down" else "upsample"
                new = f"{side}.{level}.{i}.{sampler}.conv.{parts[-1]}"
            else:
                rest = ".".join(parts[5:]).replace("conv_shortcut", "nin_shortcut")
                new = f"{side}.{level}.{i}.block.{parts[4]}.{rest}"
        elif parts[1] == "mid_block" and parts[2] == "resnets":
            rest = ".".join(parts[4:]).replace("conv_shortcut", "nin_shortcut")
            new = f"{side}.mid.block_{int(parts[3]) + 1}.{rest}"
        elif parts[1] == "mid_block":
            new = f"{side}.mid.attn_1.{_swap('.'.join(parts[4:]), VAE_ATTENTION)}"
            if value.ndim == 2:  # the original attention uses 1x1 convolutions
                value = value[:, :, None, None]
        else:
            new = key.replace("conv_norm_out", "norm_out")
        out[new] = value
    return out


def pipeline_to_ldm(pipe: Any) -> dict[str, torch.Tensor]:
    """One state dict in the original SD1.x layout: UNet, VAE and CLIP text encoder under their prefixes."""
    state: dict[str, torch.Tensor] = {}
    for key, value in unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config).items():
        state[UNET_PREFIX + key] = value
    for key, value in vae_to_ldm(pipe.vae.state_dict(), pipe.vae.config).items():
        state[VAE_PREFIX + key] = value
    for key, value in pipe.text_encoder.state_dict().items():
        state[CLIP_PREFIX + key.removeprefix("text_model.")] = value
    return {k: v.detach().contiguous().clone() for k, v in state.items()}
