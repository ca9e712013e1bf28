"""Vision backends by name: settings say ``detector = "owlv2"``; the worker calls ``load_detector(name, **opts)``.

Entries are import paths, so nothing heavy is imported until a backend is loaded (in the worker, never in the
UI). A name of the form ``package.module:Factory`` loads any other backend that follows the protocols.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.vision.protocols import Detector, Embedder, Segmenter

DETECTORS: dict[str, str] = {
    "owlv2": "tuitune.vision.zero_shot:ZeroShotDetector",
    "grounding-dino": "tuitune.vision.zero_shot:ZeroShotDetector",
    "whole-image": "tuitune.vision.simple:WholeImageDetector",
    "toyworld": "tuitune.toyworld.analytic:ToyworldDetector",
}
SEGMENTERS: dict[str, str] = {
    "u2netp": "tuitune.vision.u2net:ForegroundSegmenter",
    "sam": "tuitune.vision.sam:SamSegmenter",
    "box": "tuitune.vision.simple:BoxSegmenter",
    "toyworld": "tuitune.toyworld.analytic:ToyworldSegmenter",
}
EMBEDDERS: dict[str, str] = {
    "open_clip": "tuitune.vision.clip:OpenClipEmbedder",
    "colour-histogram": "tuitune.vision.simple:HistogramEmbedder",
    "toyworld": "tuitune.toyworld.analytic:ToyworldEmbedder",
}
# Options a backend needs to know which variant it is, beyond what the user gives.
_PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("detector", "owlv2"): {"model": "owlv2-base"},
    ("detector", "grounding-dino"): {"model": "grounding-dino-tiny"},
}


ALIASES = {"analytic": "toyworld"}


def load_detector(name: str, **options: Any) -> Detector:
    name, options = _from_path(name, options, "folder", lambda p: "owlv2")
    return _load("detector", DETECTORS, name, options)


def load_segmenter(name: str, **options: Any) -> Segmenter:
    name, options = _from_path(name, options, "weights", lambda p: "u2netp" if p.suffix == ".onnx" else "sam")
    if name == "sam" and "weights" in options:
        options["checkpoint"] = options.pop("weights")
    return _load("segmenter", SEGMENTERS, name, options)


def load_embedder(name: str, **options: Any) -> Embedder:
    name, options = _from_path(name, options, "weights", lambda p: "open_clip")
    return _load("embedder", EMBEDDERS, name, options)


def _from_path(name: str, options: dict[str, Any], key: str, pick: Any) -> tuple[str, dict[str, Any]]:
    """Settings may name weights by path ("~/models/sam_vit_b.pth"): pick the backend that reads them."""
    name = ALIASES.get(name, name)
    looks_like_path = "/" in name or name.startswith("~") or name.endswith((".pth", ".pt", ".onnx", ".safetensors"))
    if looks_like_path and ":" not in name.split("/")[-1]:
        path = Path(name).expanduser()
        return pick(path), {**options, key: path}
    return name, options


def names() -> dict[str, list[str]]:
    return {"detector": list(DETECTORS), "segmenter": list(SEGMENTERS), "embedder": list(EMBEDDERS)}


def _load(kind: str, table: dict[str, str], name: str, options: dict[str, Any]) -> Any:
    target = table.get(name)
    if target is None:
        if ":" not in name:
            raise UserError(f"Unknown {kind} {name!r}; choose one of: {', '.join(table)}.")
        target = name
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UserError(f"The {kind} {name!r} is not available in this install ({module_name} is missing).") from None
        raise
    factory = getattr(module, attr, None)
    if factory is None:
        raise UserError(f"The {kind} {name!r} is not available in this install ({target} is missing).")
    return factory(**{**_PRESETS.get((kind, name), {}), **options})
