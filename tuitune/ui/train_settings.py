"""The Train screen's settings: which TrainConfig keys the form shows, their defaults, and the job config.

No widgets here: the form reads and writes plain ``{(section, key): value}`` maps, so the config building is
tested without a terminal. ``tuitune.train.config`` is pydantic only (no torch), so the UI may import it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAIN_CONFIG_FILE = "train.toml"


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    label: str
    kind: type  # int, float, str, bool
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def ident(self) -> str:
        return f"set-{self.section}-{self.key}"


SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial")
SETTINGS: tuple[Setting, ...] = (
    Setting("model", "base", "base model", str, help="diffusers folder, .safetensors file or hub id"),
    Setting("data", "resolution", "resolution", int),
    Setting("lora", "rank", "LoRA rank", int),
    Setting("lora", "alpha", "LoRA alpha", float),
    Setting("train", "lr", "learning rate", float),
    Setting("train", "steps", "steps", int),
    Setting("train", "batch_size", "batch size", int),
    Setting("train", "grad_accum", "grad accumulation", int),
    Setting("train", "scheduler", "scheduler", str, SCHEDULERS),
    Setting("train", "warmup", "warmup steps", int),
    Setting("train", "mixed_precision", "mixed precision", str, ("no", "fp16", "bf16")),
    Setting("train", "grad_checkpointing", "grad checkpointing", bool),
    Setting("train", "min_snr_gamma", "min-SNR γ (0 = off)", float),
    Setting("train", "noise_offset", "noise offset", float),
    Setting("loss", "preservation", "preservation λ", float),
    Setting("checkpoints", "every", "checkpoint every", int),
    Setting("checkpoints", "keep", "checkpoints kept", int),
    Setting("samples", "every", "sample every", int),
    Setting("train", "seed", "seed", int),
)

# project.toml [training] key -> TrainConfig (section, key): the project's defaults for a new run.
PROJECT_DEFAULTS = {
    "resolution": ("data", "resolution"),
    "steps": ("train", "steps"),
    "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"),
    "rank": ("lora", "rank"),
    "seed": ("train", "seed"),
    "mixed_precision": ("train", "mixed_precision"),
    "num_processes": ("train", "num_processes"),
    "checkpoint_every": ("checkpoints", "every"),
    "sample_every": ("samples", "every"),
    "preservation": ("loss", "preservation"),
}


def _read_toml(path: Path) -> tuple[dict[str, Any], str | None]:
    """The TOML file as a dict ({} when absent) and a sentence when it could not be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path.name} could not be read ({exc}); the form shows the defaults."


def base_config(project_root: Path) -> tuple[dict[str, Any], str | None]:
    """The run config before the form: project.toml's training defaults, then ``train.toml`` over them.

    Returns the nested dict and a sentence to show when a file was unusable.
    """
    from tuitune.cli import UserError
    from tuitune.project.settings import SETTINGS_FILE, load_settings

    config: dict[str, Any] = {"model": {}, "data": {"folder": "images", "masks": "masks"}}
    warning = None
    try:
        project = load_settings(project_root / SETTINGS_FILE)
    except UserError as exc:
        project, warning = None, f"{exc} The form shows the defaults."
    if project is not None:
        config["model"] = {"base": project.base_model, "kind": project.model_kind}
        training = project.training.model_dump()
        for name, (section, key) in PROJECT_DEFAULTS.items():
            config.setdefault(section, {})[key] = training[name]
    override, warning2 = _read_toml(project_root / TRAIN_CONFIG_FILE)
    for section, table in override.items():
        if isinstance(table, dict):
            config.setdefault(section, {}).update(table)
        else:
            config[section] = table
    return config, warning or warning2


def form_values(config: dict[str, Any]) -> dict[Setting, Any]:
    """The value each form field starts with: from ``config``, else TrainConfig's default."""
    from tuitune.train.config import TrainConfig

    values: dict[Setting, Any] = {}
    for setting in SETTINGS:
        value = config.get(setting.section, {}).get(setting.key)
        if value is None:
            model = TrainConfig.model_fields[setting.section].annotation
            field = model.model_fields[setting.key]  # type: ignore[union-attr]
            value = None if field.is_required() else field.get_default(call_default_factory=True)
        values[setting] = "" if value is None else value
    return values


def parse_field(setting: Setting, raw: Any) -> Any:
    """One form value as its config type; a bad one raises ValueError with a sentence naming the field."""
    if setting.kind is bool:
        return bool(raw)
    text = str(raw).strip()
    if setting.kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{setting.label} must be a whole number, not {text!r}.") from None
    if setting.kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{setting.label} must be a number, not {text!r}.") from None
    if setting.choices and text not in setting.choices:
        raise ValueError(f"{setting.label} must be one of {', '.join(setting.choices)}.")
    return text


def run_config(project_root: Path, raw_values: dict[Setting, Any], spec: Any = None) -> dict[str, Any]:
    """The ``train`` job's config: base config + form values + the spec's ``[loss]`` table, validated and frozen.

    Paths become absolute, because the job resolves relative paths against its run folder. A bad value
    raises ValueError (or the engine's TrainError) with one sentence naming the setting.
    """
    from tuitune.train.config import TrainConfig

    config, _ = base_config(project_root)
    for setting, raw in raw_values.items():
        config.setdefault(setting.section, {})[setting.key] = parse_field(setting, raw)
    if not str(config.get("model", {}).get("base", "")).strip():
        raise ValueError("Set the base model (a diffusers folder, .safetensors file or hub id) before training.")
    loss = config.setdefault("loss", {})
    if spec is not None and not loss.get("concepts"):
        from tuitune.data.loss_plan import loss_table

        planned = loss_table(spec, preservation=float(loss.get("preservation", 1.0)))
        for key, value in planned.items():
            loss.setdefault(key, value)
    checked = TrainConfig.from_dict(config, base_dir=project_root)
    return checked.frozen().model_dump(mode="json", exclude_none=True)


def form_overrides(raw_values: dict[Setting, Any]) -> dict[str, Any]:
    """The form as a ``train.toml`` table, so the next run starts from what the user chose."""
    out: dict[str, Any] = {}
    for setting, raw in raw_values.items():
        out.setdefault(setting.section, {})[setting.key] = parse_field(setting, raw)
    return out
