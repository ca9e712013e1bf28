"""Load a base Stable Diffusion model (folder, single file or hub id), detect SD1/SD2/SDXL, encode prompts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tuitune.train.errors import TrainError
from tuitune.train.named_models import builder_of, folder_of

PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin"}
# diffusers takes ``dtype`` from this release on and warns about ``torch_dtype``; before it, ``dtype`` is ignored.
DTYPE_ARGUMENT_SINCE = (0, 40)
SINGLE_FILE_SUFFIXES = {".safetensors"} | PICKLE_SUFFIXES


@dataclass
class PromptEmbeds:
    """What the UNet is conditioned on: per-token states, plus SDXL's pooled embedding."""

    hidden: torch.Tensor
    pooled: torch.Tensor | None = None


@dataclass
class BaseModel:
    """The parts of a base model training needs, and its detected kind (sd1, sd2 or sdxl)."""

    kind: str
    source: str
    unet: Any
    vae: Any
    text_encoders: list[Any]
    tokenizers: list[Any]
    noise_scheduler: Any
    pipeline_class: type
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sdxl(self) -> bool:
        return self.kind == "sdxl"

    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def prediction_type(self) -> str:
        return str(self.noise_scheduler.config.prediction_type)

    def encode_prompts(self, prompts: list[str]) -> PromptEmbeds:
        """Text-encoder outputs for ``prompts`` the way the matching diffusers pipeline conditions the UNet."""
        device = next(self.text_encoders[0].parameters()).device
        if not self.is_sdxl:
            tok = self.tokenizers[0]
            ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True,
                      return_tensors="pt").input_ids.to(device)
            return PromptEmbeds(hidden=self.text_encoders[0](ids, return_dict=False)[0])
        states, pooled = [], None
        for tok, encoder in zip(self.tokenizers, self.text_encoders, strict=True):
            ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True,
                      return_tensors="pt").input_ids.to(device)
            out = encoder(ids, output_hidden_states=True, return_dict=True)
            # SDXL conditions on the penultimate layer of both encoders; pooled from the second.
            states.append(out.hidden_states[-2])
            pooled = out[0]
        return PromptEmbeds(hidden=torch.cat(states, dim=-1), pooled=pooled)

    def time_ids(self, original_hw: tuple[int, int], crop_tl: tuple[int, int], target_hw: tuple[int, int],
                 batch: int, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        """SDXL's micro-conditioning: original size, crop corner, target size."""
        row = torch.tensor([[*original_hw, *crop_tl, *target_hw]], dtype=dtype, device=device)
        return row.repeat(batch, 1)

    def unet_kwargs(self, embeds: PromptEmbeds, time_ids: torch.Tensor | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"encoder_hidden_states": embeds.hidden}
        if self.is_sdxl:
            kwargs["added_cond_kwargs"] = {"text_embeds": embeds.pooled, "time_ids": time_ids}
        return kwargs

    def pipeline(self, **overrides: Any) -> Any:
        """A diffusers pipeline around these same modules (for samples and export checks)."""
        parts: dict[str, Any] = {"vae": self.vae, "unet": self.unet, "scheduler": self.noise_scheduler,
                                 "text_encoder": self.text_encoders[0], "tokenizer": self.tokenizers[0]}
        if self.is_sdxl:
            parts.update(text_encoder_2=self.text_encoders[1], tokenizer_2=self.tokenizers[1])
        else:
            parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        parts.update(overrides)
        return self.pipeline_class(**parts)


def detect_kind_from_folder(folder: Path) -> str:
    """sdxl when the folder has a second text encoder, sd2 for v-prediction/linear-projection UNets, else sd1."""
    index = _read_json(folder / "model_index.json")
    if "text_encoder_2" in index or "XL" in str(index.get("_class_name", "")):
        return "sdxl"
    unet = _read_json(folder / "unet" / "config.json")
    sched = _read_json(folder / "scheduler" / "scheduler_config.json")
    if unet.get("addition_embed_type") == "text_time":
        return "sdxl"
    if unet.get("cross_attention_dim") == 1024 or sched.get("prediction_type") == "v_prediction":
        return "sd2"
    return "sd1"


def detect_kind_from_file(path: Path) -> str:
    """Guess the architecture of an original-format checkpoint from its tensor names."""
    keys = _checkpoint_keys(path)
    if any(k.startswith("conditioner.embedders.1") for k in keys):
        return "sdxl"
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return "sd2"
    if any(k.startswith("cond_stage_model.transformer") for k in keys):
        return "sd1"
    raise TrainError(f"{path} does not look like a Stable Diffusion 1.x, 2.x or SDXL checkpoint; "
                     "pass a diffusers folder or set [model] kind.")


def load_base(source: str | Path, kind: str = "auto", config: str | Path | None = None,
              dtype: torch.dtype = torch.float32) -> BaseModel:
    """Load a base model from a diffusers folder, a single checkpoint file, a hub id, or a name a package
    registered (a model it ships, or one it builds with random weights such as ``arch:sd15``)."""
    from diffusers import DDPMScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    text = str(source)
    path = Path(text).expanduser()
    named = folder_of(text)
    built = builder_of(text) if not path.exists() else None
    if named is not None and not path.exists():  # a model a package ships, such as the toyworld's
        path = named
        text = str(path)
    if built is not None:  # an architecture built in code, its weights random but seeded
        build, seed = built
        pipe = build(dtype, seed)
        text = text.strip()
        kind = _kind_of_pipeline(pipe) if kind == "auto" else kind
    elif path.is_dir():
        if not (path / "model_index.json").exists():
            raise TrainError(f"{path} is a folder but not a diffusers model (no model_index.json); "
                             "point [model] base at a diffusers folder or a .safetensors file.")
        kind = detect_kind_from_folder(path) if kind == "auto" else kind
        cls = StableDiffusionXLPipeline if kind == "sdxl" else StableDiffusionPipeline
        pipe = _guard(lambda: cls.from_pretrained(str(path), **dtype_argument(dtype), **_no_checker(kind)), text)
    elif path.suffix.lower() in SINGLE_FILE_SUFFIXES or path.exists() or text.startswith((".", "/", "~")):
        if not path.exists():
            raise TrainError(f"Base model {path} does not exist; check [model] base.")
        if path.stat().st_size == 0:
            raise TrainError(f"Base model file {path} is empty; download it again.")
        if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
            raise TrainError(f"{path} is not a known model type; use a diffusers folder or a .safetensors file.")
        if path.suffix.lower() in PICKLE_SUFFIXES:
            _check_pickle_is_weights_only(path)
        kind = detect_kind_from_file(path) if kind == "auto" else kind
        cls = StableDiffusionXLPipeline if kind == "sdxl" else StableDiffusionPipeline
        extra: dict[str, Any] = {"config": str(config)} if config else {}
        pipe = _guard(lambda: cls.from_single_file(str(path), **dtype_argument(dtype), **extra, **_no_checker(kind)),
                      text, single_file=True)
    else:
        pipe = _guard(lambda: _from_hub(text, kind, dtype), text)
        kind = _kind_of_pipeline(pipe) if kind == "auto" else kind
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if kind == "sdxl" else [])
    tokenizers = [pipe.tokenizer] + ([pipe.tokenizer_2] if kind == "sdxl" else [])
    return BaseModel(kind=kind, source=text, unet=pipe.unet, vae=pipe.vae, text_encoders=encoders,
                     tokenizers=tokenizers, noise_scheduler=noise_scheduler, pipeline_class=type(pipe))


def _kind_of_pipeline(pipe: Any) -> str:
    from diffusers import StableDiffusionXLPipeline

    if isinstance(pipe, StableDiffusionXLPipeline):
        return "sdxl"
    return "sd2" if pipe.unet.config.cross_attention_dim == 1024 else "sd1"


def _from_hub(repo_id: str, kind: str, dtype: torch.dtype) -> Any:
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(repo_id, **dtype_argument(dtype), **_no_checker(kind))
    return pipe


def dtype_argument(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """The keyword the installed diffusers' ``from_pretrained``/``from_single_file`` takes the weights' dtype by."""
    import diffusers
    from packaging.version import Version

    release = Version(diffusers.__version__).release[:2]
    return {"dtype": dtype} if release >= DTYPE_ARGUMENT_SINCE else {"torch_dtype": dtype}


def _no_checker(kind: str) -> dict[str, Any]:
    return {} if kind == "sdxl" else {"safety_checker": None, "requires_safety_checker": False}


def _guard(load: Any, source: str, single_file: bool = False) -> Any:
    """Turn the loaders' offline/not-found failures into one sentence a user can act on."""
    import os

    try:
        return load()
    except TrainError:
        raise
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
        if single_file:
            # diffusers needs each part's architecture config; without [model] config it looks them up on the
            # hub by the checkpoint's kind, which fails offline and for unusual architectures.
            why = "the hub is offline" if offline or _looks_offline(exc) else _first_line(exc)
            raise TrainError(
                f"Could not build a pipeline from {source} ({why}); set [model] config to a local diffusers "
                "folder of the same architecture (e.g. a downloaded stable-diffusion-v1-5 folder).") from None
        if not Path(source).exists() and (offline or _looks_offline(exc)):
            raise TrainError(f"{source!r} is not a local folder or file and the hub is offline; "
                             "download the model first or point [model] base at a local copy.") from None
        raise TrainError(f"Could not load base model {source} ({_first_line(exc)}); check [model] base.") from None


def _looks_offline(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("offline", "outgoing traffic has been disabled", "connection", "resolve host"))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _check_pickle_is_weights_only(path: Path) -> None:
    """Pickle checkpoints may run code on load: only accept ones that load with weights_only=True."""
    import pickle
    import re

    try:
        _load_weights_only(path)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f" (it calls {found.group(1)})" if found else ""
        raise TrainError(f"{path} is a pickle checkpoint that would run code when loaded{what}, so it was not "
                         "opened; use the model's .safetensors release instead.") from None
    except Exception as exc:  # noqa: BLE001 - truncated or not a torch file at all
        raise TrainError(f"{path} is not a readable PyTorch checkpoint ({_first_line(exc)}); "
                         "download it again or use a .safetensors file.") from None


def _load_weights_only(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        # Files in torch's legacy (pre-zip) format cannot be memory-mapped.
        return torch.load(path, map_location="cpu", weights_only=True)


def _checkpoint_keys(path: Path) -> list[str]:
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                return list(fh.keys())
        except Exception as exc:  # noqa: BLE001
            raise TrainError(f"{path} is not a readable .safetensors file ({_first_line(exc)}).") from None
    state = _load_weights_only(path)
    state = state.get("state_dict", state) if isinstance(state, dict) else {}
    return list(state)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
