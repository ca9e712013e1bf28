"""Sample images during training: fixed prompts and seeds, PNGs with an A1111-style ``parameters`` chunk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from PIL import PngImagePlugin

from tuitune.train.config import SampleSection

SAMPLERS = {  # config name -> (diffusers scheduler class, A1111 sampler name)
    "euler": ("EulerDiscreteScheduler", "Euler"),
    "euler_a": ("EulerAncestralDiscreteScheduler", "Euler a"),
    "ddim": ("DDIMScheduler", "DDIM"),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", "DPM++ 2M"),
}


def parameters_text(prompt: str, negative: str, steps: int, sampler: str, guidance: float, seed: int,
                    size: tuple[int, int], lora_name: str, model: str = "") -> str:
    """The text A1111 writes into a PNG's ``parameters`` chunk (readable by its PNG Info tab)."""
    lines = [f"{prompt} <lora:{lora_name}:1>"]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    fields = [f"Steps: {steps}", f"Sampler: {sampler}", f"CFG scale: {guidance:g}", f"Seed: {seed}",
              f"Size: {size[0]}x{size[1]}"]
    if model:
        fields.append(f"Model: {model}")
    fields.append(f"Lora: {lora_name}")
    lines.append(", ".join(fields))
    return "\n".join(lines)


def write_samples(pipeline: Any, section: SampleSection, folder: Path, resolution: int, lora_name: str,
                  model_name: str = "") -> list[Path]:
    """Render every (prompt, seed) pair into ``folder``; returns the PNG paths."""
    import diffusers

    class_name, a1111_name = SAMPLERS[section.sampler]
    pipeline.scheduler = getattr(diffusers, class_name).from_config(pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
    width, height = section.width or resolution, section.height or resolution
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for p_index, prompt in enumerate(section.prompts):
        for seed in section.seeds:
            generator = torch.Generator("cpu").manual_seed(seed)
            image = pipeline(prompt, negative_prompt=section.negative or None, num_inference_steps=section.steps,
                             guidance_scale=section.guidance, height=height, width=width,
                             generator=generator).images[0]
            info = PngImagePlugin.PngInfo()
            info.add_text("parameters", parameters_text(prompt, section.negative, section.steps, a1111_name,
                                                        section.guidance, seed, (width, height), lora_name,
                                                        model_name))
            name = f"p{p_index:02d}_s{seed}.png"
            image.save(tmp / name, pnginfo=info)
            names.append(name)
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return [folder / n for n in names]
