"""The caption optimiser: trigger first, modify described, keep left to the trigger, delete stripped."""

from __future__ import annotations

from PIL import Image

from tuitune.intent.captions import optimise, preview, write
from tuitune.intent.spec import Concept, IntentSpec


def spec(*concepts: Concept) -> IntentSpec:
    return IntentSpec(trigger_words=["zxq"], concepts=list(concepts))


def c(name: str, granularity: str, operation: str, **kw) -> Concept:
    return Concept(name=name, granularity=granularity, operation=operation, **kw)


def test_trigger_word_goes_first_once():
    s = spec()
    assert optimise("a girl smiling, zxq", s) == "zxq, a girl smiling"
    assert optimise("", s) == "zxq"


def test_delete_strips_mentions_in_every_phrasing():
    s = spec(c("watermark", "instance", "delete"), c("logo", "instance", "delete"))
    assert optimise("a girl with a watermark in the corner, smiling", s) == "zxq, a girl, smiling"
    assert optimise("watermarked photo of a girl", s) == "zxq, photo of a girl"
    assert optimise("a girl, logo in the corner", s) == "zxq, a girl"
    assert optimise("a girl standing in a park. A faint watermark across the image.", s) == (
        "zxq, a girl standing in a park")
    assert "watermark" not in optimise("zxq, watermarks, watermark", s)


def test_keep_concepts_are_left_to_the_trigger_word():
    s = spec(c("black jacket", "instance", "keep"), c("face", "instance", "keep"))
    assert optimise("a woman wearing a black jacket, outdoors", s) == "zxq, a woman, outdoors"
    assert optimise("jacket, face, city street", s) == "zxq, city street"


def test_modify_concepts_are_described_with_their_value():
    s = spec(c("hair colour", "attribute", "modify", value="red", alternatives=["blue"]))
    assert optimise("a girl smiling", s) == "zxq, red hair, a girl smiling"
    # The caption already says this image's colour: it is the better witness.
    assert optimise("a girl with blue hair", s) == "zxq, a girl with blue hair"
    assert optimise("a girl with blue hair", s, {"hair colour": "green"}) == "zxq, a girl with green hair"


def test_dont_care_background_keeps_its_description():
    s = spec(c("background", "imagery", "modify", loss_weight=0.1, preserve=1.0))
    assert optimise("a girl, beach background", s) == "zxq, a girl, beach background"


def test_preview_then_write_only_changes_files_when_asked(tmp_path):
    for name in ("a", "b"):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{name}.png")
    (tmp_path / "a.txt").write_text("a girl with a watermark\n")
    s = spec(c("watermark", "instance", "delete"))
    changes = preview(tmp_path, s)
    assert [(ch.image.name, ch.old, ch.new) for ch in changes] == [
        ("a.png", "a girl with a watermark", "zxq, a girl"), ("b.png", "", "zxq")]
    assert (tmp_path / "a.txt").read_text() == "a girl with a watermark\n"
    assert not (tmp_path / "b.txt").exists()
    assert write(changes) == 2
    assert (tmp_path / "a.txt").read_text() == "zxq, a girl\n"
    assert write(preview(tmp_path, s)) == 0
