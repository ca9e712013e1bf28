"""The toyworld through the dataset station: analytic masks vs the generator's geometry (IoU >= 0.9), and the
sample project from intent text to masks, augmented items, captions and a few training steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuitune.data.augment import AugmentSettings, augment
from tuitune.data.concepts import VisionBackends, detect_concepts, load_mask
from tuitune.data.dataset import Dataset
from tuitune.data.export import LOSS_FILE, export
from tuitune.data.importer import import_folder
from tuitune.intent.rules import RuleParser
from tuitune.intent.spec import IntentSpec
from tuitune.toyworld.world import WorldSampler

SAMPLE = Path(__file__).parents[1] / "sample_projects" / "toyworld-watermark"


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


@pytest.mark.slow
def test_sample_project_from_intent_text_to_a_trained_lora(tmp_path: Path) -> None:
    import shutil
    import sys
    import tomllib

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_pipelines import build_sd1, config_dict

    from tuitune.jobs.rundir import RunDir
    from tuitune.train.config import TrainConfig
    from tuitune.train.loop import train

    src = tmp_path / "images"
    src.mkdir()
    stems = [f"zxq_{i:02d}" for i in range(6)]  # zxq_03 has no watermark
    for stem in stems:
        for suffix in (".png", ".txt"):
            shutil.copy(SAMPLE / "images" / f"{stem}{suffix}", src)
    ds = tmp_path / "ds"
    import_folder(src, ds)
    spec = RuleParser().parse((SAMPLE / "intent.txt").read_text(), None, [])
    ops = {c.name: c.operation.value for c in spec.concepts}
    assert ops == {"ring shape": "keep", "colour": "modify", "watermark": "delete", "background": "modify"}

    detect_concepts(ds, spec, VisionBackends.load("analytic", "analytic"))
    dataset = Dataset(ds)
    truth_of = {"ring shape": "character", "colour": "character", "watermark": "watermark", "background": "background"}
    for stem in stems:
        for concept, truth_name in truth_of.items():
            truth_file = SAMPLE / "ground_truth" / stem / f"{truth_name}.png"
            mask = load_mask(dataset, stem, concept)
            if not truth_file.exists():  # the unmarked picture: nothing may be found
                assert mask is not None and not mask.any(), (stem, concept)
                continue
            assert _iou(mask, np.asarray(Image.open(truth_file)) > 127) >= 0.9, (stem, concept)

    made = augment(ds, spec, AugmentSettings(seed=1, keep_crops=1, modify_variations=1))
    by_op: dict[str, list] = {}
    for item in made:
        by_op.setdefault(item.provenance["operation"], []).append(item)
    # Keep crops only where the ring is small enough to crop around; one recolour per picture; one inpaint per mark.
    assert len(by_op["modify"]) == 6 and len(by_op["delete"]) == 6  # each of these six pictures carries a mark
    for item in by_op["modify"]:
        assert item.caption.split(", ")[:2] == ["zxq", item.provenance["value"]]
    for item in made:
        assert item.caption.startswith("zxq") and "watermark" not in item.caption and "ring" not in item.caption
    for item in by_op["delete"]:
        # The inpainted copy shows no watermark: it carries no watermark mask, so its fill is learned...
        assert load_mask(Dataset(ds), item.stem, "watermark") is None, item.stem
        assert load_mask(Dataset(ds), item.stem, "ring shape") is not None
        picture = np.asarray(Image.open(ds / item.path).convert("RGB")).astype(int)
        mark = np.asarray(Image.open(SAMPLE / "ground_truth" / item.derived_from / "watermark.png")) > 127
        ys, xs = np.nonzero(mark)
        around = np.zeros_like(mark)
        around[max(ys.min() - 3, 0):ys.max() + 4, max(xs.min() - 3, 0):xs.max() + 4] = True
        around &= ~mark  # the pixels just around the mark: the fill looks like them, not like a mark
        assert np.abs(picture[mark] - np.median(picture[around], axis=0)).mean() < 40, item.stem
    # ...unless the fill is not to be learned: then the copy keeps the mask (and the loss plan's zero weight).
    kept = augment(ds, spec, AugmentSettings(seed=1, keep_crops=1, modify_variations=1, learn_fill=False))
    for item in (i for i in kept if i.provenance["operation"] == "delete"):
        assert load_mask(Dataset(ds), item.stem, "watermark").any(), item.stem
    made = augment(ds, spec, AugmentSettings(seed=1, keep_crops=1, modify_variations=1))

    out = tmp_path / "export"
    export(ds, out, spec)
    captions = {p.stem: p.read_text().strip() for p in out.glob("*/*.txt")}
    assert captions["zxq_00"] == "zxq, red, on a yellow background"
    loss = tomllib.loads((out / LOSS_FILE).read_text())["loss"]
    assert loss["concepts"]["watermark"] == {"weight": 0.0, "preserve": 1.0, "mask": "watermark", "operation": "delete"}
    data = config_dict(build_sd1(tmp_path / "sd1"), out, train={"steps": 2, "lr": 1e-3}, loss=loss)
    outcome = train(TrainConfig.from_dict(data, base_dir=tmp_path), tmp_path / "run")
    assert outcome.state == "finished"
    rows = RunDir(tmp_path / "run").read_metrics()
    assert len(rows) == 2 and rows[-1]["loss_preserve"] > 0
