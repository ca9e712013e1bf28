"""Real-size Stable Diffusion architectures (SD 1.5, SD 2.1, SDXL) from their public configs, random weights.

They are test and benchmark models: speed and memory depend on the architecture, not on the weights, so
``[model] base = "arch:sd15"`` (or ``arch:sd21``, ``arch:sdxl``; ``@SEED`` picks other random weights) trains,
samples and plans memory exactly as a downloaded model of that architecture would, and draws noise. The configs
are the JSON files beside this module; importing it only registers the names (no torch).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from tuitune.train.named_models import register_builder

PREFIX = "arch:"
NAMES = ("sd15", "sd21", "sdxl")


def folder() -> Path:
    return Path(__file__).resolve().parent


@cache
def spec(name: str) -> dict[str, Any]:
    """The architecture ``name`` (``sd15``, ``sd21``, ``sdxl``) as written in its JSON file."""
    return json.loads((folder() / f"{name}.json").read_text(encoding="utf-8"))


def name_of(base: str) -> str | None:
    """``sd15`` for ``arch:sd15`` or ``arch:sd15@3``; None for a base that names no architecture here."""
    text = base.strip().lower()
    if not text.startswith(PREFIX):
        return None
    name = text.removeprefix(PREFIX).partition("@")[0]
    return name if name in NAMES else None


def _builder(name: str):
    def build(dtype: Any, seed: int) -> Any:
        from tuitune.train.architectures.random_weights import build_pipeline

        return build_pipeline(spec(name), dtype, seed)

    return build


for _name in NAMES:
    register_builder(PREFIX + _name, _builder(_name))
