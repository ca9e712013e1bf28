"""A LoRA trained by the engine on the sample project changes what the toyworld model draws for zxq."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tuitune.toyworld import model_path

SAMPLE = Path(__file__).resolve().parents[1] / "sample_projects" / "toyworld-watermark"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (model_path() / "model_index.json").exists(),
                       reason="the toyworld model has not been pretrained into tuitune/toyworld/model yet"),
]


@pytest.mark.xfail(run=False, reason="known failure, not run (about 5 min of CI each time); measured on the shipped 3200-step model, 200 steps, 24 zxq samples per "
                   "side: likeness 0.499 -> 0.493 (seeds 0..23) and 0.473 -> 0.515 (seeds 100..123), ring read "
                   "4% -> 0% both times, object area 985 -> 1933 px (project pictures: 454 px); the LoRA makes "
                   "bigger red blobs, not rings, so no effect towards the project holds across seeds")
def test_sample_project_lora_moves_trigger_word_samples_towards_the_project(tmp_path):
    from tuitune.toyworld.check import trigger_effect
    from tuitune.train.config import load_config
    from tuitune.train.loop import train

    config = load_config(SAMPLE / "train.toml")
    config.checkpoints.every = 0
    config.samples.every = 0
    config.train.cache_dir = str(tmp_path / "cache")  # leave the sample project untouched
    outcome = train(config, tmp_path / "run", steps=200, device="cpu")
    assert outcome.state == "finished"
    references = [Image.open(p).convert("RGB") for p in sorted((SAMPLE / "images").glob("*.png"))]
    effect = trigger_effect(outcome.lora_path, ["zxq", "zxq on a white background"], "ring", per_prompt=12,
                            steps=20, references=references)
    assert effect.lora_likeness >= effect.base_likeness + 0.03, effect.render("ring")
    # The watermark was a delete concept (weight 0, preserved): the LoRA must not teach it.
    assert effect.lora_watermark <= effect.base_watermark + 0.2, effect.render("ring")
