"""Evaluate a training run's checkpoints: draw cached base/LoRA samples, compute metrics, append eval.jsonl."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from tuitune import atomic
from tuitune.errors import UserError
from tuitune.evaluate.backends import load_backends
from tuitune.evaluate.intent_source import IntentSource, load_intent
from tuitune.evaluate.metrics import Backends, Sample, evaluate_samples
from tuitune.evaluate.prompts import (
    DEFAULT_NEUTRAL_PROMPTS,
    DEFAULT_SEEDS,
    DEFAULT_TRIGGER_TEMPLATES,
    EvalPrompt,
    EvalPromptSet,
    build_prompts,
)
from tuitune.evaluate.recommend import Recommendation, recommend
from tuitune.evaluate.references import resolve_references, training_images
from tuitune.generate.pair import LoraLoadError, PairGenerator, find_lora
from tuitune.generate.params import GenerationParams, Sampler
from tuitune.intent.spec import Operation
from tuitune.jobs.rundir import RunDir


class EvalSettings(BaseModel):
    """How to evaluate; unset generation values come from the run's own ``[samples]`` settings."""

    model_config = ConfigDict(extra="forbid")

    spec: str | None = None  # IntentSpec JSON file; else RUN/spec.json, else the project's latest spec
    checkpoints: list[int] | None = None  # None = every complete checkpoint plus the final LoRA
    include_final: bool = True
    seeds: list[int] = Field(default_factory=lambda: list(DEFAULT_SEEDS))
    steps: int | None = Field(None, ge=1)
    guidance: float | None = None
    sampler: Sampler | None = None
    negative: str | None = None
    lora_scale: float = 1.0
    size: int | None = Field(None, ge=8)
    trigger_templates: list[str] = Field(default_factory=lambda: list(DEFAULT_TRIGGER_TEMPLATES))
    neutral_prompts: list[str] = Field(default_factory=lambda: list(DEFAULT_NEUTRAL_PROMPTS))
    detector: str | None = None
    segmenter: str | None = None
    embedder: str | None = None
    detect_threshold: float = 0.25


@dataclass
class Checkpoint:
    label: str  # "step_100" or "final"
    step: int | None
    path: Path


def eval_jsonl(run: RunDir) -> Path:
    return run.path / "eval.jsonl"


def read_eval_rows(run: RunDir) -> list[dict[str, Any]]:
    from tuitune.jobs.rundir import JsonlTail

    return JsonlTail(eval_jsonl(run)).read_new()


def run_config(run: RunDir) -> dict[str, Any]:
    return run.config()


def list_checkpoints(run: RunDir, settings: EvalSettings) -> list[Checkpoint]:
    steps = run.checkpoint_steps()
    if settings.checkpoints is not None:
        missing = [s for s in settings.checkpoints if s not in steps]
        if missing and not (run.checkpoints_dir / f"step_{missing[0]}").exists():
            raise UserError(
                f"{run.name} has no checkpoint at step {missing[0]}; it has "
                f"{', '.join(map(str, steps)) or 'none'}."
            )
        steps = sorted(set(settings.checkpoints))
    found = [Checkpoint(f"step_{s}", s, run.checkpoint_dir(s)) for s in steps]
    # checkpoints=[] asks for the final LoRA alone.
    if settings.include_final and not settings.checkpoints and run.lora_path.is_file():
        if not any(_same_lora(c.path, run.lora_path) for c in found[-1:]):
            found.append(Checkpoint("final", None, run.lora_path))
    if not found:
        raise UserError(f"{run.name} has no checkpoints or final LoRA yet; evaluate once training has saved one.")
    return found


def _same_lora(checkpoint: Path, final: Path) -> bool:
    """The final LoRA is the last checkpoint's when training ended there: evaluating it twice wastes time."""
    from safetensors import SafetensorError, safe_open

    try:
        ours = find_lora(checkpoint)
        if ours.stat().st_size != final.stat().st_size:
            return False
        # Compare tensors, not bytes: the files' metadata (step, time) may differ.
        with safe_open(str(ours), "np") as a, safe_open(str(final), "np") as b:
            keys = set(a.keys())
            if keys != set(b.keys()):
                return False
            return all(np.array_equal(a.get_tensor(k), b.get_tensor(k)) for k in keys)
    except (LoraLoadError, OSError, SafetensorError, ValueError):
        return False


def training_captions(folder: Path) -> list[str]:
    from tuitune.data.captions import find_caption, read_caption

    return [read_caption(caption).text for image in training_images(folder)
            if (caption := find_caption(image)) is not None]


def _params(prompt: EvalPrompt, config: dict[str, Any], settings: EvalSettings) -> GenerationParams:
    samples = config.get("samples", {})
    size = settings.size or int(config.get("data", {}).get("resolution", 512))
    return GenerationParams(
        prompt=prompt.text, seed=prompt.seed, lora_scale=settings.lora_scale,
        negative=settings.negative if settings.negative is not None else str(samples.get("negative", "")),
        steps=settings.steps or int(samples.get("steps", 20)),
        guidance=settings.guidance if settings.guidance is not None else float(samples.get("guidance", 5.0)),
        sampler=settings.sampler or samples.get("sampler", "euler"),
        width=size - size % 8, height=size - size % 8,
    )


def _cached(path: Path, draw: Callable[[], Image.Image]) -> Image.Image:
    if path.is_file():
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except OSError:
            pass  # a torn write from a killed worker: draw it again
    image = draw()
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic.write_bytes(path, buffer.getvalue())
    return image


def _prepare_cache(eval_dir: Path, fingerprint: dict[str, Any]) -> None:
    """Cached samples are reused only when prompts and generation settings are unchanged."""
    marker = eval_dir / "settings.json"
    try:
        old = json.loads(marker.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        old = None
    if old != fingerprint:
        for child in eval_dir.glob("*"):
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
        atomic.write_json(marker, fingerprint)


def evaluate_run(
    run_path: Path,
    settings: EvalSettings,
    generator: PairGenerator | None = None,
    backends: Backends | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    references: Mapping[str, Sequence[Image.Image]] | None = None,
    base_cache: Path | None = None,
) -> tuple[list[dict[str, Any]], Recommendation | None]:
    """Evaluate each checkpoint, append one row per checkpoint to eval.jsonl; returns rows and the pick.

    ``references`` replaces the keep-concept references found from the intent (regions, masks, detection);
    ``base_cache`` is a folder for the base model's samples shared between runs of the same base model.
    When the run belongs to a project, each row is also recorded in the project database.
    """
    run = RunDir(Path(run_path))
    config = run_config(run)
    version = config.get("dataset", {}).get("spec_version")
    intent: IntentSource = load_intent(run, settings.spec, int(version) if version is not None else None)
    spec = intent.spec
    checkpoints = list_checkpoints(run, settings)
    data = config.get("data", {})
    images_folder = Path(data.get("folder", run.path / "images"))
    masks_folder = Path(data.get("masks") or images_folder / "masks")
    prompts: EvalPromptSet = build_prompts(
        spec, training_captions(images_folder), settings.seeds, settings.trigger_templates, settings.neutral_prompts
    )
    if backends is None:
        backends = load_backends(settings.detector, settings.segmenter, settings.embedder, settings.detect_threshold)
    keeps = spec.by_operation(Operation.KEEP)
    if references is None:
        references, reference_source = resolve_references(
            keeps, images_folder, masks_folder, intent.regions, backends.detector, backends.detect_threshold,
            project_root=intent.project_root)
    else:
        reference_source = {name: "given by the caller" for name in references}
    if generator is None:
        from tuitune.generate.pair import load_generator

        model = config.get("model", {})
        try:
            generator = load_generator(str(model.get("base", "")), kind=str(model.get("kind", "auto")))
        except Exception as exc:
            raise UserError(f"The base model of {run.name} could not be loaded ({exc}); check [model] base.") from None

    eval_dir = run.path / "eval"
    all_params = [_params(p, config, settings) for p in prompts.prompts]
    fingerprint = {"prompts": json.loads(prompts.to_json())["prompts"],
                   "params": [p.model_dump() for p in all_params], "spec": spec.model_dump(mode="json")}
    _prepare_cache(eval_dir, fingerprint)
    settings_id = hashlib.sha1(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]

    base_folder = Path(base_cache) / settings_id if base_cache is not None else eval_dir / "base"
    bases = [
        _cached(base_folder / f"{p.key}.png", lambda q=q: generator.draw(q, None))
        for p, q in zip(prompts.prompts, all_params, strict=True)
    ]
    rows: list[dict[str, Any]] = []
    for index, checkpoint in enumerate(checkpoints):
        if should_stop is not None and should_stop():
            break
        if progress is not None:
            progress(checkpoint.label, index, len(checkpoints))
        started = time.time()
        row: dict[str, Any] = {
            "time": started, "checkpoint": checkpoint.label, "step": checkpoint.step, "settings": settings_id,
            "spec_version": spec.version, "prompts": len(prompts.prompts), "excluded_prompts": prompts.excluded,
            "notes": prompts.notes, "backends_missing": backends.missing, "spec_origin": intent.origin,
            "references": {name: {"source": reference_source.get(name, ""), "count": len(crops)}
                           for name, crops in references.items()},
        }
        adapter = f"eval_{checkpoint.label}"
        try:
            generator.load_lora(find_lora(checkpoint.path), adapter)
        except LoraLoadError as exc:
            row.update(status="failed", reason=str(exc), metrics=[])
        else:
            try:
                folder = eval_dir / checkpoint.label
                samples = [
                    Sample(p, base, _cached(folder / f"{p.key}.png", lambda q=q, a=adapter: generator.draw(q, a)))
                    for p, q, base in zip(prompts.prompts, all_params, bases, strict=True)
                ]
                results = evaluate_samples(samples, spec, backends, references)
                row.update(status="ok", reason="", metrics=[r.to_dict() for r in results])
            finally:
                generator.unload_lora(adapter)
        row["seconds"] = round(time.time() - started, 2)
        run_rows_append(run, row)
        rows.append(row)
    same_settings = [r for r in read_eval_rows(run) if r.get("settings") == settings_id]
    pick = recommend(same_settings)
    if intent.project_root is not None and rows:
        from tuitune.evaluate.project_record import record_in_project

        record_in_project(intent.project_root, run, rows, pick)
    return rows, pick


def run_rows_append(run: RunDir, row: dict[str, Any]) -> None:
    """One write() on an O_APPEND file, so a reader tailing eval.jsonl never sees half a row."""
    import os

    line = (json.dumps(row, default=str) + "\n").encode("utf-8")
    fd = os.open(eval_jsonl(run), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
