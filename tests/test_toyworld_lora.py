"""A LoRA trained by the engine on the sample project teaches the toyworld model the zxq character."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.toyworld import model_path

SAMPLE = Path(__file__).resolve().parents[1] / "sample_projects" / "toyworld-watermark"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (model_path() / "model_index.json").exists(),
                       reason="the toyworld model has not been pretrained into tuitune/toyworld/model yet"),
]


def test_sample_project_lora_makes_the_trigger_word_draw_the_character(tmp_path):
    from tuitune.toyworld.check import trigger_effect
    from tuitune.train.config import load_config
    from tuitune.train.loop import train

    config = load_config(SAMPLE / "train.toml")
    config.checkpoints.every = 0
    config.samples.every = 0
    outcome = train(config, tmp_path / "run", steps=120, device="cpu")
    assert outcome.state == "finished"
    effect = trigger_effect(outcome.lora_path, ["zxq", "zxq on a white background"], "ring", per_prompt=8,
                            steps=15)
    assert effect.lora_character >= effect.base_character + 0.3, effect.render("ring")
    # The watermark was a delete concept (weight 0, preserved): the LoRA must not teach it.
    assert effect.lora_watermark <= effect.base_watermark + 0.2, effect.render("ring")
