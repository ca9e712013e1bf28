"""Mask accuracy on the toyworld with its analytic backend, against the generator's exact geometry (IoU >= 0.9).

Runs once the analytic backend (registry name "toyworld", ``tuitune.toyworld.analytic``) is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tuitune.toyworld.analytic")

from tuitune.data.concepts import VisionBackends, detect_concepts, load_mask  # noqa: E402
from tuitune.data.dataset import Dataset  # noqa: E402
from tuitune.data.importer import import_folder  # noqa: E402
from tuitune.intent.spec import IntentSpec  # noqa: E402
from tuitune.toyworld.world import WorldSampler  # noqa: E402


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def test_analytic_masks_match_the_generator_geometry(tmp_path: Path) -> None:
    sampler = WorldSampler(seed=11, two_tone_rate=0.0)
    src = tmp_path / "toy"
    src.mkdir()
    truth = {}
    for i in range(8):
        rendered = sampler.sample(shape="circle", watermark=True)
        rendered.image.save(src / f"t{i}.png")
        truth[f"t{i}"] = rendered
    import_folder(src, tmp_path / "ds")
    spec = IntentSpec.model_validate({"trigger_words": ["zxq"], "concepts": [
        {"name": "circle", "granularity": "instance", "operation": "keep"},
        {"name": "watermark", "granularity": "instance", "operation": "delete"},
    ]})
    detect_concepts(tmp_path / "ds", spec, VisionBackends.load("toyworld", "toyworld"))
    dataset = Dataset(tmp_path / "ds")
    ious = {"circle": [], "watermark": []}
    for stem, rendered in truth.items():
        ious["watermark"].append(_iou(load_mask(dataset, stem, "watermark"), rendered.watermark_mask))
        ious["circle"].append(_iou(load_mask(dataset, stem, "circle"), rendered.object_masks[0]))
    for concept, values in ious.items():
        assert np.mean(values) >= 0.9, (concept, values)
