"""Build an architecture spec (one of the JSON files here) as a diffusers pipeline with seeded random weights."""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from tuitune.train.errors import TrainError

# The parts of a pipeline that are modules with weights, in the order a spec lists them.
MODULE_PARTS = ("unet", "vae", "text_encoder", "text_encoder_2")


def build_pipeline(spec: dict[str, Any], dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    """The pipeline ``spec`` describes, its weights drawn from ``seed`` in ``dtype`` (the global RNG is left as
    it was, so a training run's own seeding does not depend on whether its base was built or loaded)."""
    import diffusers

    with torch.random.fork_rng(devices=[]), _default_dtype(dtype):
        torch.manual_seed(seed)
        modules = {part: build_module(spec[part]) for part in MODULE_PARTS if part in spec}
    for module in modules.values():
        module.eval()
    tokenizers = {part: clip_tokenizer(**spec[part]) for part in ("tokenizer", "tokenizer_2") if part in spec}
    scheduler_config = dict(spec["scheduler"])
    with torch.device("cpu"):  # a scheduler's tables live on the CPU, wherever the caller builds the weights
        scheduler = getattr(diffusers, scheduler_config.pop("_class_name")).from_config(scheduler_config)
    pipeline_class = getattr(diffusers, spec["pipeline"])
    extra: dict[str, Any] = {}
    if "text_encoder_2" not in spec:
        extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    return pipeline_class(**modules, **tokenizers, scheduler=scheduler, **extra)


def build_module(config: dict[str, Any]) -> torch.nn.Module:
    """One part (``_class_name`` names a diffusers model or a transformers text model) from its config, its
    weights drawn as the class initialises them (under ``torch.device("meta")``: none drawn)."""
    import diffusers
    import transformers

    values = dict(config)
    name = values.pop("_class_name")
    if hasattr(diffusers, name):
        return getattr(diffusers, name).from_config(values)
    cls = getattr(transformers, name)
    return cls(cls.config_class.from_dict(values))


def parameter_counts(spec: dict[str, Any]) -> dict[str, int]:
    """Each module part's parameter count, counted on the meta device (no memory, no weights drawn)."""
    counts = {}
    for part in MODULE_PARTS:
        if part in spec:
            with torch.device("meta"):
                module = build_module(spec[part])
            counts[part] = sum(p.numel() for p in module.parameters())
    return counts


@contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def clip_tokenizer(model_max_length: int = 77, pad_token: str = "<|endoftext|>") -> Any:
    """CLIP's tokenizer (the 49,408-token BPE every SD text encoder reads) from the vocabulary open_clip ships.

    SD 1.x and SDXL's first tokenizer pad with ``<|endoftext|>``, SD 2.x and SDXL's second with ``!``."""
    from transformers import CLIPTokenizer

    vocab, merges = _clip_vocab(_open_clip_bpe())
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length, pad_token=pad_token)


def _open_clip_bpe() -> Path:
    spec = importlib.util.find_spec("open_clip")
    path = Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise TrainError("The arch: models build their tokenizer from open_clip's CLIP vocabulary, and open_clip "
                         "is not installed; install the locked environment (bash scripts/setup).")
    return path


def _clip_vocab(bpe: Path) -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """CLIP's token ids: 256 byte characters, the same with ``</w>``, 48,894 merges, then the two specials."""
    lines = gzip.open(bpe).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    chars = list(_byte_characters().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def _byte_characters() -> dict[int, str]:
    """GPT-2/CLIP's printable stand-in for each byte, printable bytes first (the vocabulary's order); the BPE
    file is written in these characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table
