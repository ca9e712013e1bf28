"""Write a trained LoRA as safetensors in diffusers/peft keys and in kohya keys (A1111, ComfyUI)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from tuitune import atomic
from tuitune.train.config import SAVE_DTYPES

# kohya names: one text encoder (SD1/SD2) is ``lora_te``; SDXL's two are ``lora_te1`` and ``lora_te2``.
PREFIXES = {"unet": "lora_unet", "text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}
SINGLE_ENCODER_PREFIXES = {**PREFIXES, "text_encoder": "lora_te"}


def peft_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA tensors of one adapted module in peft keys (``...to_q.lora_A.weight``)."""
    from peft.utils import get_peft_model_state_dict

    return {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(module).items()}


def diffusers_state(parts: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """``{"unet": unet, "text_encoder": te}`` -> one dict with ``unet.``/``text_encoder.`` prefixed peft keys."""
    state: dict[str, torch.Tensor] = {}
    for prefix, module in parts.items():
        for key, value in peft_state(module).items():
            if prefix.startswith("text_encoder") and not key.startswith("text_model."):
                # Newer transformers flatten CLIPTextModel; files keep the CLIP layout every loader knows.
                key = f"text_model.{key}"
            state[f"{prefix}.{key}"] = value
    return state


def kohya_state(diffusers_keys: dict[str, torch.Tensor], alpha: float, sdxl: bool | None = None
                ) -> dict[str, torch.Tensor]:
    """Rename peft keys to kohya's ``lora_unet_<module_path>.lora_down.weight`` form, with ``.alpha``.

    ``sdxl`` picks ``lora_te1_`` over ``lora_te_`` for the first text encoder; None infers it from the keys.
    """
    if sdxl is None:
        sdxl = any(k.startswith("text_encoder_2.") for k in diffusers_keys)
    prefixes = PREFIXES if sdxl else SINGLE_ENCODER_PREFIXES
    out: dict[str, torch.Tensor] = {}
    for key, value in diffusers_keys.items():
        prefix, _, rest = key.partition(".")
        module_path, _, tail = rest.rpartition(".lora_")
        if not module_path or prefix not in prefixes:
            continue
        name = f"{prefixes[prefix]}_{module_path.replace('.', '_')}"
        kind = {"A.weight": "lora_down.weight", "B.weight": "lora_up.weight"}.get(tail)
        if kind is None:
            continue
        out[f"{name}.{kind}"] = value
        out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out


def save_lora(path: Path, parts: dict[str, torch.nn.Module], alpha: float, rank: int, kind: str,
              kohya_path: Path | None = None, embeddings: dict[str, torch.Tensor] | None = None,
              precision: str = "fp32") -> dict[str, torch.Tensor]:
    """Write ``path`` (diffusers keys) and optionally ``kohya_path`` (kohya keys), each atomically, their
    tensors in ``precision`` (fp32, fp16 or bf16); pivotal ``embeddings`` go beside ``path`` and into the kohya
    file's bundled embeddings."""
    from tuitune.train.pivotal import embeddings_path, kohya_bundle, save_embeddings

    raw = diffusers_state(parts)
    # Diffusers-keyed files carry no alpha (loaders assume alpha = rank): fold alpha/rank into lora_B (in
    # fp32, before any cast to the save precision).
    scale = float(alpha) / float(rank)
    state = cast({k: (v * scale if scale != 1.0 and ".lora_B." in k else v) for k, v in raw.items()}, precision)
    meta = {"format": "pt", "tuitune_base_kind": kind, "lora_rank": str(rank), "lora_alpha": str(alpha)}
    if embeddings:
        embeddings = cast(embeddings, precision)
        # First: a reader that finds the LoRA file finds its embeddings too.
        save_embeddings(embeddings_path(path), embeddings, write_safetensors)
    write_safetensors(state, path, meta)
    if kohya_path is not None:
        bundle = kohya_bundle(embeddings, sdxl=kind == "sdxl") if embeddings else {}
        write_safetensors(cast({**kohya_state(raw, alpha, sdxl=kind == "sdxl"), **bundle}, precision), kohya_path,
                          {**meta, "ss_network_dim": str(rank), "ss_network_alpha": str(alpha)})
    return state


def cast(state: dict[str, torch.Tensor], precision: str) -> dict[str, torch.Tensor]:
    """``state``'s floating-point tensors in ``precision`` (``fp32``, ``fp16`` or ``bf16``; kohya's
    ``save_precision`` names), every other tensor as it is."""
    dtype = getattr(torch, SAVE_DTYPES[precision])
    return {k: (v.to(dtype).contiguous() if v.is_floating_point() else v) for k, v in state.items()}


def write_safetensors(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file, fsynced, renamed into place)."""
    atomic.write_with(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))
