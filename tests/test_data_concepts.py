"""Concept pipeline on toyworld pictures: masks, reference filtering, review, augmentation, captions, export."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuitune.data.augment import AugmentSettings, augment
from tuitune.data.concepts import DetectSettings, VisionBackends, detect_concepts, load_mask, set_decision
from tuitune.data.dataset import Dataset
from tuitune.data.export import LOSS_FILE, export
from tuitune.data.importer import import_folder
from tuitune.data.loss_plan import loss_table
from tuitune.intent.spec import DONT_CARE_LOSS, IntentSpec
from tuitune.toyworld.world import WorldSampler, render
from tuitune.vision.protocols import Detection
from tuitune.vision.registry import load_embedder, load_segmenter


class GeometryDetector:
    """A detector that knows the generator's geometry: it isolates the pipeline from detection quality."""

    def __init__(self, scenes: dict[bytes, object]) -> None:
        self.scenes = scenes

    def detect(self, image: Image.Image, text: str) -> list[Detection]:
        rendered = self.scenes[image.convert("RGB").tobytes()]
        masks = [rendered.watermark_mask] if text == "watermark" else rendered.object_masks
        out = []
        for mask in masks:
            ys, xs = np.nonzero(mask)
            out.append(Detection((float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), 0.9, text))
        return out


SPEC = IntentSpec.model_validate({
    "trigger_words": ["zxq"],
    "domain": "object",
    "concepts": [
        {"name": "shape", "granularity": "instance", "operation": "keep", "references": [1]},
        {"name": "shape colour", "granularity": "attribute", "operation": "modify", "value": "red",
         "alternatives": ["blue", "green"]},
        {"name": "watermark", "granularity": "instance", "operation": "delete"},
    ],
})


@pytest.fixture()
def world(tmp_path: Path):
    sampler = WorldSampler(seed=3, max_objects=2, two_tone_rate=0.0, colours=("red", "blue", "green", "yellow"))
    src = tmp_path / "toy"
    src.mkdir()
    scenes: dict[bytes, object] = {}
    for i in range(5):
        scene = sampler.scene(colour="red", background=("white",), watermark=True)
        while len(scene.objects) < 2:
            scene = sampler.scene(colour="red", background=("white",), watermark=True)
        rendered = render(scene, trigger="zxq")
        rendered.image.save(src / f"scene{i}.png")
        (src / f"scene{i}.txt").write_text(rendered.caption)
        scenes[rendered.image.tobytes()] = rendered
    reference = render(sampler.scene(colour="red", background=("gray",), watermark=False))
    reference.image.save(tmp_path / "ref.png")
    ys, xs = np.nonzero(reference.object_masks[0])
    region = type("Region", (), {"number": 1, "image": str(tmp_path / "ref.png"),
                                 "box": (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)})()
    ds = tmp_path / "ds"
    import_folder(src, ds)
    backends = VisionBackends(GeometryDetector(scenes), load_segmenter("box"), load_embedder("colour-histogram"))
    detect_concepts(ds, SPEC, backends, [region], DetectSettings(similarity_threshold=0.8))
    return ds, scenes


def test_masks_follow_geometry_and_references_pick_the_red_shapes(world) -> None:
    ds, scenes = world
    dataset = Dataset(ds)
    index = dataset.masks_index()
    for item in dataset.items():
        rendered = scenes[Image.open(dataset.image_path(item)).convert("RGB").tobytes()]
        assert np.array_equal(load_mask(dataset, item.stem, "watermark"), rendered.watermark_mask)
        shapes = index[item.stem]["shape"]["instances"]
        decided = {inst["accepted"] for inst in shapes}
        assert len(shapes) == 2 and decided == {True, False}  # the red one matches reference [1]; the other not
        red = rendered.object_masks[[o.colour for o in rendered.scene.objects].index("red")]
        mask = load_mask(dataset, item.stem, "shape")
        ys, xs = np.nonzero(red)
        red_box = np.zeros_like(red)
        red_box[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
        assert np.array_equal(mask, red_box)  # the box segmenter's mask of the red shape only


def test_review_decision_rewrites_the_mask(world) -> None:
    ds, _ = world
    dataset = Dataset(ds)
    stem = dataset.items()[0].stem
    instances = dataset.masks_index()[stem]["shape"]["instances"]
    accepted = next(i for i, inst in enumerate(instances) if inst["accepted"])
    set_decision(ds, stem, "shape", accepted, False)
    assert not load_mask(dataset, stem, "shape").any()
    set_decision(ds, stem, "shape", accepted, True)
    assert load_mask(dataset, stem, "shape").any()


@pytest.mark.slow
def test_augment_by_operation_and_export_for_the_trainer(world, tmp_path: Path) -> None:
    ds, _ = world
    dataset = Dataset(ds)
    made = augment(ds, SPEC, AugmentSettings(seed=7, keep_crops=2, modify_variations=1))
    again = augment(ds, SPEC, AugmentSettings(seed=7, keep_crops=2, modify_variations=1))
    assert [m.stem for m in made] == [m.stem for m in again]  # seeded: the same items, not twice as many
    for a, b in zip(made, again, strict=True):
        assert np.array_equal(np.asarray(Image.open(ds / a.path)), np.asarray(Image.open(ds / b.path)))
    by_op: dict[str, list] = {}
    for item in made:
        by_op.setdefault(item.provenance["operation"], []).append(item)
    assert len(by_op["keep"]) == 5 * 2 and len(by_op["modify"]) == 5 and len(by_op["delete"]) == 5

    for item in by_op["keep"]:
        assert load_mask(dataset, item.stem, "shape").any()  # the kept concept is inside every crop
    for item in by_op["modify"]:
        value = item.provenance["value"]
        assert value in item.caption and "red" not in item.caption
        parent = Image.open(dataset.image_path(next(i for i in dataset.items() if i.stem == item.derived_from)))
        child = np.asarray(Image.open(ds / item.path).convert("RGB")).astype(int)
        mask = load_mask(dataset, item.derived_from, "shape colour")
        assert np.abs(child[~mask] - np.asarray(parent)[~mask]).max() <= 2  # nothing outside the mask moves
        hue = np.mean([colorsys.rgb_to_hsv(*(child[y, x] / 255))[0] for y, x in zip(*np.nonzero(mask), strict=True)])
        assert (0.55 < hue < 0.75) if value == "blue" else (0.25 < hue < 0.45)
    for item in by_op["delete"]:
        assert "watermark" not in item.caption
        picture = np.asarray(Image.open(ds / item.path).convert("RGB")).astype(int)
        assert load_mask(dataset, item.stem, "watermark") is None  # the copy shows none, so it has no mask of it
        wm = load_mask(dataset, item.derived_from, "watermark")
        assert np.abs(picture[wm] - 245).mean() < 20  # filled with the white background, the mark is gone

    table = loss_table(SPEC)
    assert table["concepts"]["watermark"] == {"weight": 0.0, "preserve": 1.0, "mask": "watermark", "operation": "delete"}
    assert table["concepts"]["shape"] == {"weight": 1.0, "preserve": 0.0, "mask": "shape", "operation": "keep"}
    # The unnamed rest doesn't matter: learned with the picture, held to the base model.
    assert (table["background_weight"], table["background_preserve"]) == DONT_CARE_LOSS

    out = tmp_path / "export"
    report = export(ds, out, SPEC)
    assert report.images == 5 + len(made) and (out / LOSS_FILE).exists()
    from tuitune.train.dataset import scan_folder

    scan = scan_folder(out)
    assert len(scan.records) == report.images
    for record in scan.records:
        assert record.caption.startswith("zxq")
        inpainted = "__delete-" in record.stem  # the watermark is gone from it, and so is its mask
        assert {"shape", "shape colour"} | (set() if inpainted else {"watermark"}) <= set(record.masks)
        assert ("watermark" in record.masks) is not inpainted
        if "__" not in record.stem:
            assert "watermark" not in record.caption
    with pytest.raises(Exception, match="not empty"):
        export(ds, out, SPEC)


@pytest.mark.slow
def test_exported_folder_trains_with_the_engine(world, tmp_path: Path) -> None:
    import sys
    import tomllib

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_pipelines import build_sd1, config_dict

    from tuitune.jobs.rundir import RunDir
    from tuitune.train.config import TrainConfig
    from tuitune.train.loop import train

    ds, _ = world
    augment(ds, SPEC, AugmentSettings(seed=0, keep_crops=1, modify_variations=1))
    out = tmp_path / "export"
    export(ds, out, SPEC)
    loss = tomllib.loads((out / LOSS_FILE).read_text())["loss"]
    data = config_dict(build_sd1(tmp_path / "sd1"), out, train={"steps": 3, "lr": 1e-3}, loss=loss)
    outcome = train(TrainConfig.from_dict(data, base_dir=tmp_path), tmp_path / "run")
    assert outcome.state == "finished"
    rows = RunDir(tmp_path / "run").read_metrics()
    # The preservation term is live: the exported masks and loss table reached the trainer.
    assert len(rows) == 3 and rows[-1]["loss_preserve"] > 0


def test_a_dataset_named_by_a_relative_path_augments_and_exports_its_masks(world, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ds, _ = world
    monkeypatch.chdir(ds.parent)
    augment(Path(ds.name), SPEC, AugmentSettings(seed=7, keep_crops=1, modify_variations=1))
    report = export(Path(ds.name), Path("out"), SPEC)
    exported = sorted((tmp_path / "out" / "masks").glob("*/*.png"))
    assert report.masks == len(exported) > 0
    assert Dataset(Path(ds.name)).root == ds.absolute()
