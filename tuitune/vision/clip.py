"""Image/crop/text -> vector with open_clip from local weights (a `local-dir` folder or an architecture + file)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tuitune.vision.weights import require


class OpenClipEmbedder:
    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        architecture: str = "ViT-B-32",
        device: str = "cpu",
        precision: str = "fp32",
        batch_size: int = 16,
    ) -> None:
        import open_clip

        path = Path(weights).expanduser() if weights else None
        if path is not None and path.is_dir():
            # A folder holding open_clip_config.json and its weights: fully self-described.
            require(path / "open_clip_config.json", "clip-vit-b-32")
            name, pretrained = f"local-dir:{path}", None
        else:
            file = require(path, "clip-vit-b-32") if path else _default_file()
            name, pretrained = architecture, str(file)
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=device, precision=precision, weights_only=True
        )
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(name)
        self.device = device
        self.batch_size = batch_size

    def embed_image(self, image: Image.Image) -> np.ndarray:
        return self.embed_images([image])[0]

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        rows = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack([self.preprocess(im.convert("RGB")) for im in images[start : start + self.batch_size]])
            dtype = next(self.model.parameters()).dtype
            with torch.inference_mode():
                rows.append(self.model.encode_image(batch.to(self.device, dtype)).float().cpu().numpy())
        return _normalise(np.concatenate(rows)) if rows else np.zeros((0, 0), np.float32)

    def embed_text(self, text: str) -> np.ndarray:
        import torch

        with torch.inference_mode():
            vec = self.model.encode_text(self.tokenizer([text]).to(self.device)).float().cpu().numpy()
        return _normalise(vec)[0]


def _default_file() -> Path:
    from tuitune.vision.weights import default_path

    folder = default_path("clip-vit-b-32")
    found = sorted(folder.rglob("*.safetensors")) + sorted(folder.rglob("*.bin")) if folder.is_dir() else []
    return require(found[0] if found else folder / "open_clip_model.safetensors", "clip-vit-b-32")


def _normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms == 0, 1, norms)).astype(np.float32)
