"""Prompt similarity as a reward: cosine of open_clip image and text embeddings, from a local checkpoint.

open_clip's weights are not downloaded here: ``checkpoint`` is a local .safetensors (or a .pt/.bin that
loads with ``weights_only=True``) for the architecture ``model`` names, or that a model config JSON describes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from tuitune.errors import UserError

MEAN = (0.48145466, 0.4578275, 0.40821073)  # open_clip's OpenAI normalisation
STD = (0.26862954, 0.26130258, 0.27577711)


class OpenClipReward:
    """score = cos(image embedding, prompt embedding); no heatmap of its own (Grad-CAM on its first conv)."""

    def __init__(self, checkpoint: str | Path, model: str = "ViT-B-32", config: str | Path | None = None) -> None:
        import open_clip

        self.checkpoint = Path(checkpoint).expanduser()
        self.name = f"open_clip:{self.checkpoint.name}"
        if config is not None:
            model = _register_config(Path(config).expanduser())
        if model not in open_clip.list_models():
            raise UserError(f"open_clip knows no model {model!r}; give one of `open_clip.list_models()` or a "
                            "model config JSON as config.")
        self.model = open_clip.create_model(model, pretrained=None)
        self._load()
        self.model.eval().requires_grad_(False)
        self.tokenizer = open_clip.get_tokenizer(model)
        size = self.model.visual.image_size
        self.size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)

    def _load(self) -> None:
        try:
            self.model.load_state_dict(_read_weights(self.checkpoint), strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0][:160]
            raise UserError(f"{self.checkpoint} does not fit the open_clip model ({first}); give the checkpoint "
                            "of that architecture.") from None

    def to(self, device: Any) -> OpenClipReward:
        self.model.to(device)
        return self

    def score(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        x = torch.nn.functional.interpolate(images, size=self.size, mode="bilinear", align_corners=False)
        mean = torch.tensor(MEAN, device=x.device)[:, None, None]
        std = torch.tensor(STD, device=x.device)[:, None, None]
        image = self.model.encode_image((x - mean) / std)
        text = self.model.encode_text(self.tokenizer(prompts).to(x.device))
        return torch.nn.functional.cosine_similarity(image, text, dim=-1)

    def heatmap(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor | None:
        return None

    def cam_layer(self) -> torch.nn.Module:
        visual = self.model.visual
        return getattr(visual, "layer4", None) or visual.conv1


def _register_config(path: Path) -> str:
    import open_clip

    try:
        json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"The open_clip model config {path} does not exist; check the path.") from None
    except ValueError as exc:
        raise UserError(f"The open_clip model config {path} is not JSON ({exc}); fix the file.") from None
    open_clip.add_model_config(path)
    return path.stem


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise UserError(f"The open_clip checkpoint {path} does not exist; give a local weights file.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file, or a pickle that would run code
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(f"{path} cannot be read as weights ({first}); give a .safetensors file.") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    return {k.removeprefix("module."): v for k, v in state.items()}
