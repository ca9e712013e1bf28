"""Reading what a toyworld LoRA draws (ring, watermark, colour asked) and the spread over seeds."""

from __future__ import annotations

import pytest

from tuitune.evaluate.prompts import EvalPrompt, EvalPromptSet, PromptKind
from tuitune.toyworld.efficacy import bootstrap, read_images
from tuitune.toyworld.world import Scene, ShapeSpec, render


def _picture(shape: str, colour: str, watermark: bool):
    return render(Scene((ShapeSpec(shape, colour, 28.0, 28.0, 14.0),), ("white",), watermark=watermark)).image


def test_reading_counts_rings_marks_and_the_colour_asked() -> None:
    prompts = EvalPromptSet([
        EvalPrompt("zxq", 1, PromptKind.TRIGGER), EvalPrompt("zxq", 2, PromptKind.TRIGGER),
        EvalPrompt("a blue zxq", 1, PromptKind.ALTERNATIVE, "colour", "blue"),
        EvalPrompt("a green zxq", 1, PromptKind.ALTERNATIVE, "colour", "green"),
        EvalPrompt("a red apple", 1, PromptKind.NEUTRAL),
    ])
    images = {prompts.prompts[0].key: _picture("ring", "red", True),
              prompts.prompts[1].key: _picture("square", "red", False),
              prompts.prompts[2].key: _picture("ring", "blue", True),
              prompts.prompts[3].key: _picture("ring", "purple", True)}
    reading = read_images(prompts, images)
    assert reading.character == 0.5 and reading.colour_asked == 0.5
    assert reading.watermark == 0.5  # 1 of the 2 trigger samples
    assert reading.watermark_all == 0.75  # 3 of the 4 trigger and alternative samples; neutral ones are not read
    assert (reading.trigger_samples, reading.alternative_samples) == (2, 2)
    with pytest.raises(FileNotFoundError, match="no evaluation sample for 'zxq'"):
        read_images(prompts, {})


def test_bootstrap_interval_holds_the_mean_and_narrows_with_agreeing_seeds() -> None:
    wide = bootstrap([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    assert wide.mean == 0.5 and wide.low < 0.5 < wide.high and wide.n == 8
    tight = bootstrap([0.9] * 8)
    assert tight.low == tight.high == pytest.approx(0.9)
    with pytest.raises(ValueError):
        bootstrap([])
