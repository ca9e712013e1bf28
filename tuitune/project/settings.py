"""``project.toml``: the human-editable settings of a project, loaded with errors that name line and key."""

from __future__ import annotations

import difflib
import errno
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tuitune import atomic
from tuitune.errors import UserError

SETTINGS_FILE = "project.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntentSettings(_Section):
    parser: Literal["rules", "ollama", "transformers"] = "rules"
    model: str = ""  # Ollama model name, or a local folder / GGUF file for transformers
    ollama_host: str = "http://127.0.0.1:11434"


class VisionSettings(_Section):
    detector: str = "analytic"  # "analytic", or a local OWLv2 / Grounding DINO folder
    segmenter: str = "analytic"  # "analytic", or a segment-anything checkpoint file
    embedder: str = "analytic"  # "analytic", or local open_clip weights
    # An instance counts as the concept when its best similarity to the concept's reference regions reaches this.
    similarity_threshold: float = Field(0.8, ge=-1.0, le=1.0)
    min_score: float = Field(0.0, ge=0.0, le=1.0)  # detections scoring below this are dropped


class TrainingDefaults(_Section):
    resolution: int = Field(512, ge=8)
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(1, ge=1)
    lr: float = Field(1e-4, gt=0)
    rank: int = Field(8, ge=1)
    seed: int = 0
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    num_processes: int = Field(1, ge=1)
    checkpoint_every: int = Field(100, ge=0)
    sample_every: int = Field(100, ge=0)
    preservation: float = Field(1.0, ge=0)


class AccelerateSettings(_Section):
    # The accelerate config file (the YAML `accelerate config` writes), relative to the project or absolute;
    # "" = one process, or [training] num_processes on this machine. Training runs launch through it.
    config: str = ""


class ProjectSettings(_Section):
    name: str
    base_model: str = "toyworld"  # a diffusers folder, a .safetensors checkpoint, a hub id, or "toyworld"
    model_kind: Literal["auto", "sd1", "sd2", "sdxl"] = "auto"
    intent: IntentSettings = Field(default_factory=IntentSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    training: TrainingDefaults = Field(default_factory=TrainingDefaults)
    accelerate: AccelerateSettings = Field(default_factory=AccelerateSettings)
    # The app's own table (image protocol, minimum size, polling): the app reads and checks it; the engine
    # only keeps it, so saving the project's settings never drops it.
    ui: dict[str, Any] = Field(default_factory=dict)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.model_dump(mode="json", exclude={"ui"} if not self.ui else None))


def load_settings(path: Path) -> ProjectSettings:
    """Parse ``project.toml``; a mistake becomes one sentence naming the line and the key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(
            f"{path.parent} has no {SETTINGS_FILE}; run `tuitune new {path.parent}` first."
        ) from None
    except UnicodeDecodeError:
        raise UserError(
            f"{path} is not UTF-8 text; save it as UTF-8, or, if it is damaged, move it aside and "
            f"`tuitune new {path.parent}` writes a fresh one (the project's pictures and database stay)."
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(
            f"{path}: {_toml_message(exc)}; fix that line (or delete the file's broken part)."
        ) from None
    try:
        return ProjectSettings.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{path}: {_explain(exc, text)}") from None


def save_settings(path: Path, settings: ProjectSettings) -> None:
    """Replace ``project.toml`` atomically: a failed write leaves the old file as it was."""
    try:
        atomic.write_text(path, settings.to_toml())
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise UserError(
                f"The disk is full, so {path.name} was not saved (the old one is intact); free some space."
            ) from None
        raise


def _toml_message(exc: tomllib.TOMLDecodeError) -> str:
    # tomllib says "Invalid value (at line 3, column 9)": lead with the place.
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    reason = re.sub(r"\s*\(at line.*\)", "", str(exc))
    return f"line {match[1]}, column {match[2]}: {reason}" if match else str(exc)


def _key_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """The line where the dotted key ``loc`` is written, found by walking table headers."""
    table: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\s*([^\]]+?)\s*\]", line)
        if header:
            table = tuple(p.strip().strip("\"'") for p in header[1].split("."))
            if table == tuple(map(str, loc)):
                return number
            continue
        key = re.match(r"^([A-Za-z0-9_.\"'-]+)\s*=", line)
        if key:
            full = table + tuple(p.strip().strip("\"'") for p in key[1].split("."))
            if full == tuple(map(str, loc)):
                return number
    return None


def _known(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = ProjectSettings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _explain(exc: ValidationError, text: str) -> str:
    sentences = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(map(str, loc))
        line = _key_line(text, loc)
        where = f"line {line}: " if line else ""
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), _known(loc), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(_known(loc))}."
            sentences.append(f"{where}unknown key {dotted!r}; {hint}")
        elif err["type"] == "missing":
            sentences.append(f"key {dotted!r} is missing; add it.")
        else:
            sentences.append(f"{where}key {dotted!r}: {err['msg']}.")
    return " ".join(sentences)
