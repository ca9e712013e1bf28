"""Base and LoRA images from one loaded pipeline: the LoRA is switched on and off, never loaded twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from tuitune.generate.params import GenerationParams
from tuitune.generate.sampler import scheduler_for

LORA_FILE_NAMES = ("lora.safetensors", "pytorch_lora_weights.safetensors")


class _UnetOnlyLora(logging.Filter):
    """A LoRA without text-encoder keys (most are: tuitune's by default, every fix run's) is normal; diffusers
    warns about it at every load, a paragraph in every generate and evaluate job's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No LoRA keys associated to")


_QUIET = _UnetOnlyLora()
for _name in ("diffusers.loaders.lora_base", "diffusers.loaders.peft", "diffusers.loaders.lora_pipeline"):
    logging.getLogger(_name).addFilter(_QUIET)


class LoraLoadError(Exception):
    """A LoRA file that cannot be applied to this base model; the message says which file and why."""


def find_lora(path: Path) -> Path:
    """The LoRA file for a path that is a file, a checkpoint folder or a run folder."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for name in LORA_FILE_NAMES:
            if (path / name).is_file():
                return path / name
        found = sorted(p for p in path.glob("*.safetensors")
                       if "lora" in p.name.lower() and not p.name.endswith("_embeddings.safetensors"))
        if found:
            return found[0]
        raise LoraLoadError(f"{path} holds no LoRA .safetensors file")
    raise LoraLoadError(f"{path} does not exist")


@dataclass
class PairGenerator:
    """Holds one pipeline; ``draw`` renders with the base model or with one loaded LoRA adapter."""

    pipe: Any
    device: str = "cpu"
    model_name: str = ""
    _adapters: dict[str, Path] = field(default_factory=dict)
    _sampler: str | None = None
    _embeddings: dict[str, Any] = field(default_factory=dict)  # adapter -> trained token rows (pivotal)
    _tables: Any = None

    def load_lora(self, path: Path, name: str) -> str:
        """Load the LoRA at ``path`` as adapter ``name`` (once); raises LoraLoadError with the reason."""
        if name in self._adapters:
            return name
        from tuitune.train.pivotal import diffusers_lora

        file = find_lora(path)
        try:
            rows = self._token_tables().read(file)
            self.pipe.load_lora_weights(diffusers_lora(file), adapter_name=name)
        except Exception as exc:  # diffusers raises many kinds for a bad or mismatched file
            self._forget(name)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise LoraLoadError(f"{file} cannot be loaded onto this base model ({first})") from exc
        self._adapters[name] = file
        if rows is not None:
            self._embeddings[name] = rows
        return name

    def _token_tables(self) -> Any:
        from tuitune.train.pivotal import TokenTables

        if self._tables is None:
            self._tables = TokenTables(self.pipe)
        return self._tables

    def unload_lora(self, name: str) -> None:
        """Drop adapter ``name`` so evaluating many checkpoints does not pile them up in memory."""
        if self._adapters.pop(name, None) is not None:
            self._forget(name)
        if self._embeddings.pop(name, None) is not None and self._tables is not None and self._tables.active == name:
            self._tables.put(None, None)

    def _forget(self, name: str) -> None:
        try:
            self.pipe.delete_adapters(name)
        except Exception:  # nothing was registered under that name
            pass

    def draw(self, params: GenerationParams, adapter: str | None = None) -> Image.Image:
        """One image; ``adapter=None`` is the base model with every LoRA switched off."""
        import torch

        if self._sampler != params.sampler:
            self.pipe.scheduler = scheduler_for(params.sampler, self.pipe.scheduler.config)
            self._sampler = params.sampler
        if adapter is None:
            if self._adapters:
                self.pipe.disable_lora()
        else:
            if adapter not in self._adapters:
                raise KeyError(f"adapter {adapter!r} is not loaded")
            self.pipe.enable_lora()
            self.pipe.set_adapters([adapter], adapter_weights=[params.lora_scale])
        if self._embeddings or (self._tables is not None and self._tables.active is not None):
            # A LoRA trained with its trigger's embeddings draws with them; the base model with its own.
            rows = self._embeddings.get(adapter) if adapter is not None else None
            self._token_tables().put(adapter if rows is not None else None, rows)
        generator = torch.Generator("cpu").manual_seed(params.seed)
        kwargs: dict[str, Any] = {}
        if params.width:
            kwargs["width"] = params.width
        if params.height:
            kwargs["height"] = params.height
        with torch.no_grad():
            out = self.pipe(
                prompt=params.prompt,
                negative_prompt=params.negative or None,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance,
                generator=generator,
                output_type="pil",
                **kwargs,
            )
        return out.images[0]

    def pair(self, params: GenerationParams, adapter: str) -> tuple[Image.Image, Image.Image]:
        """(base, LoRA) with the same prompt, negative, seed, steps, guidance and sampler."""
        return self.draw(params, None), self.draw(params, adapter)


def load_generator(model: str, kind: str = "auto", device: str | None = None) -> PairGenerator:
    """Load the base model once through the engine's loader and wrap its pipeline."""
    import torch

    from tuitune.train.base_model import load_base

    base = load_base(model, kind=kind)
    pipe = base.pipeline()
    pipe.set_progress_bar_config(disable=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipe.to(device)
    return PairGenerator(pipe=pipe, device=device, model_name=Path(model).name or model)
