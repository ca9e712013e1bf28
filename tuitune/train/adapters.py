"""LoRA adapters on the frozen base model: which modules get one, and their accelerate save/load hooks."""

from __future__ import annotations

import os
from typing import Any

import torch

from tuitune.train.base_model import BaseModel
from tuitune.train.config import LoraSection
from tuitune.train.errors import TrainError


def check_text_encoder_lora() -> None:
    """Stop before loading anything when transformers will refuse to put a LoRA on its text encoders.

    transformers' ``add_adapter`` demands a minimum peft version of its own (5.24 asked for peft 0.22 before
    one was released); the run should say so in one sentence, not fail with a traceback after the model
    loaded."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    try:
        from transformers.integrations import peft as hf_peft
    except ImportError as exc:  # a transformers without its peft integration
        raise TrainError(f"text-encoder LoRA needs transformers' peft integration, which this transformers lacks "
                         f"({exc}); reinstall from the lock (bash scripts/setup) or set text_encoder = false "
                         "under [lora].") from None
    need = getattr(hf_peft, "MIN_PEFT_VERSION", None)
    try:
        have = version("peft")
    except PackageNotFoundError:
        have = None
    installed = version("transformers")
    if have is None or (need is not None and Version(have) < Version(need)):
        raise TrainError(f"text-encoder LoRA cannot run here: transformers {installed} needs peft >= {need} and "
                         f"peft {have or 'is not installed'}; install the locked versions (bash scripts/setup) "
                         "or set text_encoder = false under [lora].")


def add_lora(base: BaseModel, lora: LoraSection, seed: int) -> tuple[list[Any], list[str]]:
    """Freeze the base, add LoRA to the UNet (and text encoders when asked); the trained modules and names."""
    from peft import LoraConfig

    for module in [base.unet, base.vae, *base.text_encoders]:
        module.requires_grad_(False)
    torch.manual_seed(seed)  # LoRA's initial weights are part of what resume must reproduce
    base.unet.add_adapter(LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                     init_lora_weights="gaussian", target_modules=lora.unet_target_modules))
    models, names = [base.unet], ["unet"]
    if lora.text_encoder:
        for i, encoder in enumerate(base.text_encoders):
            encoder.add_adapter(LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                           init_lora_weights="gaussian", target_modules=lora.text_encoder_target_modules))
            models.append(encoder)
            names.append("text_encoder" if i == 0 else "text_encoder_2")
    return models, names


def add_pivotal(base: BaseModel, words: list[str], device: Any, processes: int,
                init: dict[str, str] | None = None) -> Any:
    """The trigger words' trainable token embeddings, installed in the text encoders; None without words."""
    if not words:
        return None
    if processes > 1:
        raise TrainError("pivotal tuning trains on one process; set num_processes = 1 under [train] or "
                         "pivotal = [] under [lora].")
    from tuitune.train.pivotal import PivotalEmbeddings

    pivotal = PivotalEmbeddings(list(words), base.tokenizers, base.text_encoders, init).to(device)
    pivotal.install(base.text_encoders)
    return pivotal


def register_checkpoint_hooks(accelerator: Any, plain: list[Any], names: list[str], pivotal: Any = None) -> None:
    """Make accelerate's save_state/load_state store only the adapters (MBs), not the frozen base (GBs), and
    the pivotal token embeddings when they train."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    from tuitune.train.export import peft_state

    def save_hook(hook_models: list[Any], weights: list[Any], output_dir: str) -> None:
        for i, _ in enumerate(list(hook_models)):
            save_file(peft_state(plain[i]), os.path.join(output_dir, f"adapter_{names[i]}.safetensors"))
            if weights:
                weights.pop()
        if pivotal is not None:
            save_file({k: v.detach().cpu().contiguous() for k, v in pivotal.state_dict().items()},
                      os.path.join(output_dir, "pivotal_embeddings.safetensors"))

    def load_hook(hook_models: list[Any], input_dir: str) -> None:
        for i in range(len(hook_models)):
            set_peft_model_state_dict(plain[i], load_file(os.path.join(input_dir, f"adapter_{names[i]}.safetensors")))
        hook_models.clear()
        if pivotal is not None:
            pivotal.load_state_dict(load_file(os.path.join(input_dir, "pivotal_embeddings.safetensors")))

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
