"""The toyworld: a procedural world of shapes and a tiny Stable Diffusion model trained on it."""

from __future__ import annotations

from pathlib import Path

from tuitune.train.named_models import register


def model_path() -> Path:
    """Folder of the shipped toyworld pipeline (loads with ``StableDiffusionPipeline.from_pretrained``)."""
    return Path(__file__).resolve().parent / "model"


register("toyworld", model_path)  # [model] base = "toyworld" loads the shipped pipeline
