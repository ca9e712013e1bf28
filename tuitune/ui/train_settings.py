"""The Train screen's settings: which TrainConfig keys the form shows, their defaults, and the job config.

No widgets here: the form reads and writes plain ``{(section, key): value}`` maps, so the config building is
tested without a terminal. ``tuitune.train.config`` is pydantic only (no torch), so the UI may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The config before the form and the job config live in the engine, shared with `tuitune train PROJECT`.
from tuitune.train.project_run import PROJECT_DEFAULTS, base_config  # noqa: F401 (re-exported)

TRAIN_CONFIG_FILE = "train.toml"


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    label: str
    kind: type  # int, float, str, bool
    choices: tuple[str, ...] = ()
    help: str = ""
    # Left blank, the setting is not written and the engine picks it (shown as the field's placeholder).
    blank: str = ""

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
    Setting("train", "min_snr_gamma", "min-SNR γ (0=off)", float),
    Setting("train", "noise_offset", "noise offset", float),
    Setting("data", "caption_tag_dropout", "caption tag drop", float,
            help="share of caption tags after the trigger left out each step (1: the trigger alone); blank: 1 when "
                 "the captions come from the intent, else 0",
            blank="auto"),
    Setting("loss", "preservation", "preservation λ", float),
    Setting("checkpoints", "every", "checkpoint every", int),
    Setting("checkpoints", "keep", "checkpoints kept", int),
    Setting("samples", "every", "sample every", int),
    Setting("train", "seed", "seed", int),
)

def form_values(config: dict[str, Any]) -> dict[Setting, Any]:
    """The value each form field starts with: from ``config``, else TrainConfig's default."""
    from tuitune.train.config import TrainConfig

    values: dict[Setting, Any] = {}
    for setting in SETTINGS:
        value = config.get(setting.section, {}).get(setting.key)
        if value is None:
            model = TrainConfig.model_fields[setting.section].annotation
            field = model.model_fields[setting.key]  # type: ignore[union-attr]
            value = None if field.is_required() or setting.blank else field.get_default(call_default_factory=True)
        values[setting] = "" if value is None else value
    return values


def parse_field(setting: Setting, raw: Any) -> Any:
    """One form value as its config type; a bad one raises ValueError with a sentence naming the field."""
    if setting.kind is bool:
        return bool(raw)
    text = str(raw).strip()
    if setting.blank and not text:
        return None
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


def run_config(project_root: Path, raw_values: dict[Setting, Any]) -> dict[str, Any]:
    """The ``train`` job's run.toml for the form: ``train_request`` with the form's values as the user's choices,
    the run config ``tuitune train PROJECT`` makes from the same settings.

    A bad field raises ValueError naming it; a damaged project file or a bad value, UserError with one sentence.
    """
    from tuitune.train.project_run import train_request

    return train_request(project_root, form_overrides(raw_values))


def form_overrides(raw_values: dict[Setting, Any]) -> dict[str, Any]:
    """The form as ``train.toml`` tables, so the next run starts from what the user chose; a field left blank
    is None there (to be removed from the file: the engine chooses it)."""
    out: dict[str, Any] = {}
    for setting, raw in raw_values.items():
        out.setdefault(setting.section, {})[setting.key] = parse_field(setting, raw)
    return out


PLAN_SECONDS = 180  # the plan process imports torch and builds the architecture on the meta device


def memory_plan(project_root: Path, raw_values: dict[Setting, Any]) -> dict[str, Any]:
    """The memory plan of the run the form would start (``python -m tuitune.train.plan_file``, a process of its
    own: the plan needs torch, the app never imports it). ``{"error": sentence}`` when it cannot be made."""
    import json

    from tuitune.ui.report_process import run_report

    try:
        choices = form_overrides(raw_values)
    except ValueError as exc:
        return {"error": str(exc)}
    return run_report("tuitune.train.plan_file", [str(Path(project_root).resolve())], needs="sentence",
                      what="The memory plan", timeout=PLAN_SECONDS, stdin=json.dumps(choices))
