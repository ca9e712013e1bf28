"""Builds the toyworld model's parts: CLIP tokenizer from open_clip's BPE file, tiny text encoder, VAE, UNet."""

from __future__ import annotations

import gzip
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

TEXT_HIDDEN = 64
LATENT_SIZE = 16
# DDPM's linear schedule: SD's scaled_linear leaves too much signal at t=T on 16x16 latents,
# so plain backgrounds never get learned.
SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=1e-4,
    beta_end=0.02,
    beta_schedule="linear",
    prediction_type="epsilon",
    clip_sample=False,
)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-to-printable-character table; the BPE file is written in these characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def open_clip_bpe_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("open_clip is not installed; install open_clip_torch to build the tokenizer")
    return Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"


def clip_vocab(bpe_path: Path | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The 49,408-token CLIP vocabulary and its merges, read from open_clip's BPE file."""
    bpe_path = bpe_path or open_clip_bpe_path()
    lines = gzip.open(bpe_path).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    base = list(_bytes_to_unicode().values())
    vocab = base + [v + "</w>" for v in base] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, merges  # type: ignore[return-value]


def build_tokenizer(bpe_path: Path | None = None) -> CLIPTokenizer:
    """A CLIPTokenizer giving the same ids as open_clip's tokenizer."""
    vocab, merges = clip_vocab(bpe_path)
    return CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        model_max_length=77,
        pad_token="<|endoftext|>",
    )


def build_text_encoder(seed: int = 0) -> CLIPTextModel:
    """A frozen, randomly initialised 2-layer CLIP text encoder: random but fixed token features."""
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=TEXT_HIDDEN * 4,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=TEXT_HIDDEN,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        hidden_act="quick_gelu",
    )
    model = CLIPTextModel(config)
    model.requires_grad_(False)
    return model.eval()


def build_vae() -> AutoencoderKL:
    """64x64x3 <-> 16x16x4, three blocks of 16/32/64 channels."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


UNET_CHANNELS = (48, 96, 96)


def build_unet(channels: tuple[int, ...] | list[int] = UNET_CHANNELS) -> UNet2DConditionModel:
    """48/96/96 channels by default, one layer per block, cross-attention at 8x8, 4x4 and the middle (~3.7 M
    params). Wider ``channels`` (multiples of 8, three levels) make a bigger model for a GPU.

    At 32 channels on the 16x16 level (the first toyworld model) squares came out round and stars blunt."""
    channels = tuple(int(c) for c in channels)
    if len(channels) != 3 or any(c < 8 or c % 8 for c in channels):
        raise ValueError(f"UNet channels {channels} must be three multiples of 8, e.g. 48,96,96")
    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=channels,
        layers_per_block=1,
        cross_attention_dim=TEXT_HIDDEN,
        attention_head_dim=8,
        norm_num_groups=8,
    )


def build_scheduler() -> DDPMScheduler:
    return DDPMScheduler(**SCHEDULER_CONFIG)
