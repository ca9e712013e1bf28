"""Prepares the toyworld-watermark sample project for training: as written, or the tuitune way from its intent."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[2] / "sample_projects" / "toyworld-watermark"


def sample_spec(sample: Path = SAMPLE) -> Any:
    """The user's intent, read from the sample project's words by the offline rules parser."""
    from tuitune.intent.rules import RuleParser

    return RuleParser().parse((sample / "intent.txt").read_text(encoding="utf-8"), None, [])


def truth_name(concept: Any) -> str | None:
    """Which of the generator's masks (character, watermark, background) a concept of the spec covers."""
    from tuitune.data.loss_plan import is_background
    from tuitune.evaluate.prompts import detection_query
    from tuitune.toyworld.backend import parse

    if is_background(concept):
        return "background"
    query = parse(detection_query(concept))
    if query.mark:
        return "watermark"
    return "character" if query.objects else None


def stems(sample: Path = SAMPLE) -> list[str]:
    return sorted(p.stem for p in (sample / "images").glob("*.png"))


def copy_pictures(folder: Path, sample: Path = SAMPLE) -> Path:
    """The sample pictures with their original captions."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems(sample):
        for suffix in (".png", ".txt"):
            shutil.copy(sample / "images" / f"{stem}{suffix}", folder)
    return folder


def concept_masks(spec: Any, out: Path, sample: Path = SAMPLE) -> Path:
    """The true masks filed under the spec's concept names (``out/<stem>/<concept>.png``)."""
    from tuitune.data.dataset import concept_filename

    for stem in stems(sample):
        for concept in spec.concepts:
            name = truth_name(concept)
            source = sample / "ground_truth" / stem / f"{name}.png"
            if name and source.is_file():
                (out / stem).mkdir(parents=True, exist_ok=True)
                target = out / stem / f"{concept_filename(concept.name)}.png"
                # Several processes may share the folder: never leave a half-copied mask.
                partial = target.with_name(f".{target.name}.{os.getpid()}")
                shutil.copy(source, partial)
                os.replace(partial, target)
    return out


def prepare_tuitune(spec: Any, workdir: Path, augment_seed: int = 0, sample: Path = SAMPLE,
                    keep_crops: int = 2) -> tuple[Path, Path, dict[str, Any]]:
    """(training folder, masks folder, ``[loss]`` table) the tuitune way: the pictures imported into a dataset,
    the true masks under the spec's concept names, augmentation by operation, captions from the caption
    optimiser (the trigger carries what is kept), and the loss plan of the spec."""
    from tuitune.data.augment import AugmentSettings, augment
    from tuitune.data.dataset import Dataset
    from tuitune.data.export import export
    from tuitune.data.importer import import_folder
    from tuitune.data.loss_plan import loss_table

    ds = workdir / "dataset"
    import_folder(copy_pictures(workdir / "source", sample), ds)
    dataset = Dataset(ds)
    for stem_dir in concept_masks(spec, workdir / "truth", sample).iterdir():
        for mask in stem_dir.glob("*.png"):
            target = dataset.masks_dir / stem_dir.name / mask.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(mask, target)
    augment(ds, spec, AugmentSettings(seed=augment_seed, keep_crops=keep_crops))
    out = workdir / "export"
    export(ds, out, spec, overwrite=True)
    return out, out / "masks", loss_table(spec)


def train_config(model: str, data: Path, masks: Path | None, loss: dict[str, Any], steps: int, cache: Path,
                 sample: Path = SAMPLE, data_options: dict[str, Any] | None = None, seed: int | None = None,
                 lora_options: dict[str, Any] | None = None) -> Any:
    """The sample project's train.toml with other data, masks and loss (and ``[data]`` options such as tag
    dropout); checkpoints and samples off."""
    import tomllib

    from tuitune.train.config import TrainConfig

    raw = tomllib.loads((sample / "train.toml").read_text(encoding="utf-8"))
    # The caller's paths are relative to where it runs, not to the sample project the config is read against.
    data, cache = Path(data).resolve(), Path(cache).resolve()
    masks = Path(masks).resolve() if masks is not None else None
    raw["model"]["base"] = model
    raw["data"] = {**raw["data"], **(data_options or {}), "folder": str(data)}
    raw["data"].pop("masks", None)
    if masks is not None:
        raw["data"]["masks"] = str(masks)
    raw["loss"] = loss
    raw["train"] = {**raw["train"], "steps": steps, "cache_dir": str(cache)}
    if seed is not None:
        raw["train"]["seed"] = seed
    raw["lora"] = {**raw["lora"], **(lora_options or {})}
    raw["checkpoints"] = {"every": 0, "keep": 1}
    raw["samples"] = {**raw["samples"], "every": 0}
    return TrainConfig.from_dict(raw, base_dir=sample)
