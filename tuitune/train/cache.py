"""On-disk cache of VAE latents and text embeddings, keyed by content hash, shared across epochs and runs."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def module_fingerprint(module: torch.nn.Module) -> str:
    """A cheap identity of a model's weights: its config plus hashes of its first and last tensors."""
    h = hashlib.sha256()
    config = getattr(module, "config", None)
    if config is not None:
        h.update(json.dumps(config.to_dict() if hasattr(config, "to_dict") else dict(config), sort_keys=True,
                            default=str).encode())
    params = list(module.state_dict().values())
    for tensor in (params[0], params[-1]) if params else ():
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def file_digest(path: Path) -> str:
    from tuitune.jobs.checksums import file_sha256

    return file_sha256(path)


class TensorCache:
    """Tensors stored as ``<folder>/<kind>/<key>.safetensors``; memory first, then disk, then compute."""

    def __init__(self, folder: Path | None, kind: str) -> None:
        self.folder = Path(folder) / kind if folder is not None else None
        self.memory: dict[str, dict[str, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    def key(self, *parts: str) -> str:
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        if key in self.memory:
            self.hits += 1
            return self.memory[key]
        if self.folder is not None:
            path = self.folder / f"{key}.safetensors"
            try:
                value = load_file(str(path))
            except (FileNotFoundError, OSError, RuntimeError, ValueError):
                value = None  # absent or unreadable (e.g. half-written by a killed run): recompute
            if value is not None:
                self.memory[key] = value
                self.hits += 1
                return value
        self.misses += 1
        return None

    def put(self, key: str, value: dict[str, torch.Tensor]) -> None:
        value = {k: v.detach().cpu().contiguous() for k, v in value.items()}
        self.memory[key] = value
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{key}.safetensors"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            save_file(value, str(tmp))
            os.replace(tmp, path)
        except OSError:
            # A full or read-only cache disk only costs speed, never the run.
            tmp.unlink(missing_ok=True)
