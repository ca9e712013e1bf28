"""The training configuration (`TrainConfig`): a pydantic model loaded from TOML, unknown keys named."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from tuitune.train.errors import TrainError

DEFAULT_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
# Named sets of the modules a LoRA adapts ([lora] targets / text_encoder_targets = "NAME", or an explicit list).
# "attention": the attention projections only. "kohya": kohya-ss sd-scripts' default LoRA module set, every
# linear and 1x1 layer of the UNet's transformer blocks (attention, proj_in/proj_out, feed-forward) and of the
# text encoder's layers (attention and MLP).
TARGET_PRESETS: dict[str, list[str]] = {
    "attention": DEFAULT_TARGETS,
    "kohya": [*DEFAULT_TARGETS, "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"],
}
TEXT_ENCODER_TARGET_PRESETS: dict[str, list[str]] = {
    "attention": ["q_proj", "k_proj", "v_proj", "out_proj"],
    "kohya": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
}
SAVE_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}  # [lora] save_precision -> torch dtype


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSection(_Section):
    base: str = Field(description="diffusers folder, single .safetensors checkpoint, or hub id")
    kind: Literal["auto", "sd1", "sd2", "sdxl"] = "auto"
    # For a single-file checkpoint: a local diffusers folder whose configs describe the architecture.
    config: str | None = None


class DataSection(_Section):
    folder: str = "images"
    resolution: int = Field(512, ge=8)
    buckets: bool = True
    caption_dropout: float = Field(0.0, ge=0.0, le=1.0)  # whole caption -> "" for this share of samples
    # Tag dropout: each comma-separated tag after the first ``keep_tokens`` (the trigger) is left out with
    # probability ``caption_tag_dropout`` per sample and step, so the trigger also learns alone.
    keep_tokens: int = Field(0, ge=0)
    caption_tag_dropout: float = Field(0.0, ge=0.0, le=1.0)
    repeats: int = Field(1, ge=1)
    # Default: <folder>/masks/<stem>/<concept>.png
    masks: str | None = None
    shuffle: bool = True


class LoraSection(_Section):
    rank: int = Field(8, ge=1)
    alpha: float = Field(8.0, gt=0)
    # A preset name (see TARGET_PRESETS) or the module names themselves.
    targets: str | list[str] = "attention"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    text_encoder: bool = False
    text_encoder_targets: str | list[str] = "attention"
    # Pivotal tuning: these words' token embeddings train with the LoRA (the trigger binds in fewer steps);
    # [] = off. They are saved beside the LoRA and bundled into the kohya file.
    pivotal: list[str] = Field(default_factory=list)
    # Where a pivotal word's embedding starts (textual inversion's initializer): word -> words it means, e.g.
    # {zxq = "ring"}; every token row of the word starts at the mean of those words' token rows. A word not
    # named here starts from its own rows.
    pivotal_init: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _init_words_are_pivotal(self) -> LoraSection:
        strays = sorted(set(self.pivotal_init) - set(self.pivotal))
        if strays:
            raise ValueError(f"pivotal_init names {', '.join(map(repr, strays))}, which pivotal does not list; "
                             "add the word to pivotal or take it out of pivotal_init")
        return self
    # The dtype of the exported files (lora.safetensors, lora_kohya.safetensors, each checkpoint's LoRA);
    # kohya users usually save fp16 or bf16: half the size. Training and resume state stay fp32.
    save_precision: Literal["fp32", "fp16", "bf16"] = "fp32"

    @field_validator("targets", "text_encoder_targets")
    @classmethod
    def _known_targets(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str) and value not in TARGET_PRESETS:
            close = difflib.get_close_matches(value, list(TARGET_PRESETS), n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown target preset {value!r}{hint}; use \"attention\", \"kohya\" or a list of "
                             "module names")
        if isinstance(value, list) and not value:
            raise ValueError('name at least one module, or a preset: "attention" or "kohya"')
        return value

    @property
    def unet_target_modules(self) -> list[str]:
        """The UNet module names the LoRA adapts, the preset resolved."""
        return list(TARGET_PRESETS[self.targets]) if isinstance(self.targets, str) else list(self.targets)

    @property
    def text_encoder_target_modules(self) -> list[str]:
        targets = self.text_encoder_targets
        return list(TEXT_ENCODER_TARGET_PRESETS[targets]) if isinstance(targets, str) else list(targets)


class TrainSection(_Section):
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(1, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(1e-4, gt=0)
    text_encoder_lr: float | None = None
    pivotal_lr: float | None = Field(None, gt=0)  # the trigger embeddings' lr; None = lr
    scheduler: str = "constant"
    warmup: int = Field(0, ge=0)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    grad_checkpointing: bool = False
    min_snr_gamma: float = Field(0.0, ge=0.0)
    noise_offset: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, ge=0.0)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    optimizer: Literal["adamw", "adamw8bit"] = "adamw"
    weight_decay: float = Field(1e-2, ge=0.0)
    cache_latents: bool = True
    cache_dir: str | None = None
    num_processes: int = Field(1, ge=1)
    # Before loading the model, the memory plan (tuitune.train.memory_plan) predicts the peak and compares it with
    # the device's free memory: "refuse" stops a run that will not fit, naming what would; "warn" says so and
    # starts; "off" skips the plan.
    memory_check: Literal["refuse", "warn", "off"] = "refuse"

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str) -> str:
        known = ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"]
        if value not in known:
            raise ValueError(f"unknown scheduler {value!r}; use one of {', '.join(known)}")
        return value


class ConceptLoss(_Section):
    """One concept's part of the loss: its mask file (``masks/<stem>/<mask>.png``), W and P inside it."""

    weight: float = Field(1.0, ge=0.0)
    preserve: float = Field(0.0, ge=0.0)
    mask: str | None = None  # the mask file's name without .png; None = the concept's name as a file name
    operation: str | None = None  # keep | modify | delete, as the intent said (shown in errors and reports)
    dont_care: bool = False  # the user said it doesn't matter (W and P are what that means)

    @field_validator("mask")
    @classmethod
    def _plain_mask_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c in value for c in "/\\\x00") or value in (".", "..")):
            raise ValueError(f"mask {value!r} must be a file name without a folder")
        return value

    @field_validator("operation")
    @classmethod
    def _known_operation(cls, value: str | None) -> str | None:
        if value is not None and value not in ("keep", "modify", "delete"):
            raise ValueError(f"unknown operation {value!r}; use keep, modify or delete")
        return value


class LossSection(_Section):
    preservation: float = Field(0.0, ge=0.0)  # lambda of the preservation term
    background_weight: float = Field(1.0, ge=0.0)
    background_preserve: float = Field(0.0, ge=0.0)
    concepts: dict[str, ConceptLoss] = Field(default_factory=dict)


class CheckpointSection(_Section):
    every: int = Field(100, ge=0)  # 0 = only at the end and on stop
    keep: int = Field(3, ge=1)
    # The newest keep_state checkpoints keep the full resumable state (optimizer, schedule, RNG); older ones
    # keep only their LoRA files (evaluations still compare them). None = every kept checkpoint is resumable.
    keep_state: int | None = Field(None, ge=1)


class SampleSection(_Section):
    every: int = Field(100, ge=0)  # 0 = never during training
    prompts: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=lambda: [0])
    steps: int = Field(20, ge=1)
    guidance: float = 5.0
    negative: str = ""
    sampler: Literal["euler", "euler_a", "ddim", "dpmpp_2m"] = "euler"
    width: int | None = None
    height: int | None = None


class TrainConfig(_Section):
    model: ModelSection
    data: DataSection = Field(default_factory=DataSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    train: TrainSection = Field(default_factory=TrainSection)
    loss: LossSection = Field(default_factory=LossSection)
    checkpoints: CheckpointSection = Field(default_factory=CheckpointSection)
    samples: SampleSection = Field(default_factory=SampleSection)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    # --- paths ---------------------------------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        """The folder relative paths in this config resolve against (the config file's folder)."""
        return self._base_dir

    def resolve(self, value: str | None) -> Path | None:
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self._base_dir / path)

    @property
    def data_folder(self) -> Path:
        return self.resolve(self.data.folder)  # type: ignore[return-value]

    @property
    def masks_folder(self) -> Path:
        return self.resolve(self.data.masks) if self.data.masks else self.data_folder / "masks"  # type: ignore[return-value]

    @property
    def cache_folder(self) -> Path:
        return self.resolve(self.train.cache_dir) if self.train.cache_dir else self._base_dir / "cache"  # type: ignore[return-value]

    @property
    def base_model(self) -> str:
        """The base model as a path when it names a local file or folder, else the hub id unchanged."""
        local = self.resolve(self.model.base)
        if local is not None and (local.exists() or self.model.base.startswith((".", "/", "~"))):
            return str(local)
        return self.model.base

    def frozen(self) -> TrainConfig:
        """A copy whose paths are absolute, so it means the same thing from any folder (for run.toml)."""
        data = self.model_dump()
        data["model"]["base"] = self.base_model
        if self.model.config:
            data["model"]["config"] = str(self.resolve(self.model.config))
        data["data"]["folder"] = str(self.data_folder)
        data["data"]["masks"] = str(self.masks_folder)
        data["train"]["cache_dir"] = str(self.cache_folder)
        frozen = TrainConfig.model_validate(data)
        frozen._base_dir = self._base_dir
        return frozen

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.model_dump(exclude_none=True))

    # --- loading -------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: Path | str | None = None) -> TrainConfig:
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            raise TrainError(_explain(exc)) from None
        config._base_dir = Path(base_dir).resolve() if base_dir is not None else Path.cwd()
        return config

    @classmethod
    def from_toml(cls, path: Path | str) -> TrainConfig:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainError(f"Config file {path} does not exist; check the path.") from None
        except tomllib.TOMLDecodeError as exc:
            raise TrainError(f"Config file {path} is not valid TOML ({exc}); fix that line.") from None
        return cls.from_dict(data, base_dir=path.resolve().parent)


def load_config(path: Path | str) -> TrainConfig:
    """Read a training config TOML; relative paths in it resolve against its folder."""
    return TrainConfig.from_toml(path)


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] | None = TrainConfig
    for part in loc[:-1]:
        if model is None:
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            # A free-form mapping such as [loss.concepts.NAME]: its values are ConceptLoss.
            if model is LossSection:
                continue
            return [] if model is not ConceptLoss else list(ConceptLoss.model_fields)
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if model is None and str(part) == "concepts":
            model = ConceptLoss
    return list(model.model_fields) if model is not None else []


def _explain(exc: ValidationError) -> str:
    """One sentence per problem, naming the key; unknown keys get the nearest known key."""
    sentences = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            known = _known_keys(loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys here: {', '.join(known)}."
            sentences.append(f"Unknown config key {dotted!r}{hint}")
        elif err["type"] == "missing":
            sentences.append(f"Config key {dotted!r} is required; add it.")
        else:
            sentences.append(f"Config key {dotted!r}: {err['msg']}.")
    return " ".join(sentences)
