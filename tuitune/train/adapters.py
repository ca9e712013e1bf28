"""LoRA adapters on the frozen base model: which modules get one, and their accelerate save/load hooks."""

from __future__ import annotations

import os
from typing import Any

import torch

from tuitune.train.base_model import BaseModel
from tuitune.train.config import LoraSection


def add_lora(base: BaseModel, lora: LoraSection, seed: int) -> tuple[list[Any], list[str]]:
    """Freeze the base, add LoRA to the UNet (and text encoders when asked); the trained modules and names."""
    from peft import LoraConfig

    for module in [base.unet, base.vae, *base.text_encoders]:
        module.requires_grad_(False)
    torch.manual_seed(seed)  # LoRA's initial weights are part of what resume must reproduce
    base.unet.add_adapter(LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                     init_lora_weights="gaussian", target_modules=lora.targets))
    models, names = [base.unet], ["unet"]
    if lora.text_encoder:
        for i, encoder in enumerate(base.text_encoders):
            encoder.add_adapter(LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                           init_lora_weights="gaussian", target_modules=lora.text_encoder_targets))
            models.append(encoder)
            names.append("text_encoder" if i == 0 else "text_encoder_2")
    return models, names


def register_checkpoint_hooks(accelerator: Any, plain: list[Any], names: list[str]) -> None:
    """Make accelerate's save_state/load_state store only the adapters (MBs), not the frozen base (GBs)."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    from tuitune.train.export import peft_state

    def save_hook(hook_models: list[Any], weights: list[Any], output_dir: str) -> None:
        for i, _ in enumerate(list(hook_models)):
            save_file(peft_state(plain[i]), os.path.join(output_dir, f"adapter_{names[i]}.safetensors"))
            if weights:
                weights.pop()

    def load_hook(hook_models: list[Any], input_dir: str) -> None:
        for i in range(len(hook_models)):
            set_peft_model_state_dict(plain[i], load_file(os.path.join(input_dir, f"adapter_{names[i]}.safetensors")))
        hook_models.clear()

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
