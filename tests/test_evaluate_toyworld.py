"""Evaluation on the real shipped toyworld model: a short project run scored per checkpoint, every metric a
number, keep references from the intent's numbered region, results in the project database."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuitune.toyworld import model_path

SAMPLE = Path(__file__).resolve().parents[1] / "sample_projects" / "toyworld-watermark"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (model_path() / "model_index.json").exists(),
                       reason="the toyworld model has not been pretrained into tuitune/toyworld/model yet"),
]


def _box(mask_file: Path) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(np.asarray(Image.open(mask_file).convert("L")) > 127)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def test_short_toyworld_run_is_scored_per_checkpoint_and_recorded_in_its_project(tmp_path):
    import shutil
    import tomllib

    from tuitune.evaluate.runner import EvalSettings, evaluate_run
    from tuitune.intent.regions import Region
    from tuitune.intent.rules import RuleParser
    from tuitune.project.project import Project
    from tuitune.train.config import TrainConfig
    from tuitune.train.loop import train

    project = Project.create(tmp_path / "proj")
    spec = RuleParser().parse((SAMPLE / "intent.txt").read_text(), None, [])
    spec.concepts[0].references = [1]  # "ring shape" points at region [1]
    assert spec.concepts[0].name == "ring shape"
    shutil.copy(SAMPLE / "images" / "zxq_03.png", project.root / "images" / "ref.png")
    region = Region(1, "images/ref.png", _box(SAMPLE / "ground_truth" / "zxq_03" / "character.png"), "ring")
    project.db.add_turn("user", (SAMPLE / "intent.txt").read_text(), None, [region.to_dict()])
    project.db.save_spec(spec.model_dump(mode="json", exclude={"version"}))
    project.close()

    raw = tomllib.loads((SAMPLE / "train.toml").read_text())
    raw["model"]["base"] = "toyworld"  # the alias of the shipped model, kept as such in run.toml
    raw["data"]["folder"] = str(SAMPLE / "images")
    raw["data"]["masks"] = str(SAMPLE / "ground_truth")
    raw["train"].update(steps=4, batch_size=2, warmup=0, cache_dir=str(tmp_path / "cache"))
    raw["checkpoints"] = {"every": 2, "keep": 3}
    raw["samples"]["every"] = 0
    run_path = project.root / "runs" / "short"
    assert train(TrainConfig.from_dict(raw, base_dir=SAMPLE), run_path).state == "finished"
    assert tomllib.loads((run_path / "run.toml").read_text())["model"]["base"] == "toyworld"

    settings = EvalSettings(seeds=[7001], steps=4, trigger_templates=["{t}"],
                            neutral_prompts=["a blue square on a white background"],
                            detector="toyworld", segmenter="toyworld", embedder="toyworld")
    rows, pick = evaluate_run(run_path, settings)
    # The final LoRA is the step-4 checkpoint's, so it is not drawn twice.
    assert [r["checkpoint"] for r in rows] == ["step_2", "step_4"]
    for row in rows:
        assert row["status"] == "ok", row
        values = {m["name"]: m["value"] for m in row["metrics"]}
        assert all(v is not None for v in values.values()), [m for m in row["metrics"] if m["value"] is None]
        assert 0.0 <= values["intent score"] <= 1.0
        assert row["references"] == {"ring shape": {"source": "intent regions", "count": 1}}
        assert row["spec_origin"] == "the project's spec version 1"
    assert pick is not None and pick.checkpoint in {"step_2", "step_4"} and "intent score" in pick.reason

    with Project.open(project.root, readonly=True) as reopened:
        records = reopened.db.evals("short")
    assert [r.checkpoint for r in records] == ["step_2", "step_4"]
    assert [r.checkpoint for r in records if r.recommended] == [pick.checkpoint]
    assert all(r.score is not None for r in records)


def test_generate_accepts_the_toyworld_alias(tmp_path):
    from tuitune.generate.batch import GenerateRequest, generate_batch

    records = generate_batch(GenerateRequest(model="toyworld", prompts=["a red ring on a white background"],
                                             steps=2, width=64, height=64, output=str(tmp_path / "gen")))
    [record] = records
    [name] = record.images.values()
    with Image.open(tmp_path / "gen" / name) as image:
        assert image.size == (64, 64)
