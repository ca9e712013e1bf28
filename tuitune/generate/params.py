"""What one generation is made of (prompt, seed, steps, guidance, LoRA scale...) and its A1111 text form."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Sampler = Literal["euler", "euler_a", "ddim", "dpmpp_2m"]

# The names A1111 shows for our samplers, so its "PNG info" tab and civitai read our files.
_A1111_SAMPLER = {"euler": "Euler", "euler_a": "Euler a", "ddim": "DDIM", "dpmpp_2m": "DPM++ 2M"}


class GenerationParams(BaseModel):
    """Everything that decides an image apart from the model: the same params give the same picture."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    negative: str = ""
    seed: int = Field(0, ge=0, lt=2**63)
    steps: int = Field(20, ge=1, le=1000)
    guidance: float = Field(5.0, ge=0.0)
    lora_scale: float = 1.0
    sampler: Sampler = "euler"
    width: int | None = Field(None, ge=8)
    height: int | None = Field(None, ge=8)

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_eight(cls, value: int | None) -> int | None:
        if value is not None and value % 8:
            raise ValueError(f"{value} is not a multiple of 8; the VAE needs sizes divisible by 8")
        return value


def a1111_parameters(
    params: GenerationParams, size: tuple[int, int], model: str = "", lora: str | None = None
) -> str:
    """The ``parameters`` PNG text chunk in A1111's layout: prompt, negative line, then key: value pairs."""
    prompt = params.prompt
    if lora:
        prompt = f"{prompt} <lora:{lora}:{params.lora_scale:g}>"
    lines = [prompt]
    if params.negative:
        lines.append(f"Negative prompt: {params.negative}")
    pairs = [
        ("Steps", str(params.steps)),
        ("Sampler", _A1111_SAMPLER[params.sampler]),
        ("CFG scale", f"{params.guidance:g}"),
        ("Seed", str(params.seed)),
        ("Size", f"{size[0]}x{size[1]}"),
    ]
    if model:
        pairs.append(("Model", model))
    if lora:
        pairs.append(("Lora scale", f"{params.lora_scale:g}"))
    lines.append(", ".join(f"{k}: {v}" for k, v in pairs))
    return "\n".join(lines)
