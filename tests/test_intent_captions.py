"""The caption optimiser: trigger first, modify described, keep left to the trigger, delete stripped."""

from __future__ import annotations

from PIL import Image

from tuitune.intent.captions import optimise, preview, trigger_meaning, write
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


def toyworld_spec() -> IntentSpec:
    """The sample project's intent, read by the rules parser (keep ring shape, modify colour, delete watermark,
    background doesn't matter)."""
    from pathlib import Path

    from tuitune.intent.rules import RuleParser

    text = (Path(__file__).parents[1] / "sample_projects" / "toyworld-watermark" / "intent.txt").read_text()
    return RuleParser().parse(text, None, [])


def test_sample_project_captions_keep_the_colour_and_drop_shape_and_watermark():
    s = toyworld_spec()
    caption = "zxq, a red ring on a yellow background, with a watermark"
    assert optimise(caption, s) == "zxq, red, on a yellow background"
    # An augmented picture recoloured to blue says blue, and the background colour is not taken for it.
    assert optimise(caption, s, {"colour": "blue"}) == "zxq, blue, on a yellow background"
    assert optimise("zxq, a green ring on a yellow and white background", s) == (
        "zxq, green, on a yellow and white background")


def test_tricky_captions():
    s = toyworld_spec()
    # The trigger inside the text, a mark with a place, and a concept that is not named at all.
    assert optimise("zxq, a red star with a watermark in the corner on a blue background", s) == (
        "zxq, a red star on a blue background")
    assert optimise("ZXQ photo of a man", s) == "zxq, photo of a man"
    assert optimise("a landscape at dusk", s) == "zxq, a landscape at dusk"
    # Deleting one mark leaves another one the user did not mention.
    assert optimise("a woman with a watermark and a signature", s) == "zxq, a woman and a signature"
    woman = spec(c("hair colour", "attribute", "modify", value="red", alternatives=["blue"]),
                 c("black jacket", "instance", "keep"), c("watermark", "instance", "delete"))
    assert optimise("photo of a woman with red hair and a black jacket, watermarked", woman) == (
        "zxq, photo of a woman with red hair")
    assert optimise("photo of a woman with red hair and a black jacket, watermarked", woman,
                    {"hair colour": "blue"}) == "zxq, photo of a woman with blue hair"


def test_a_kept_bare_attribute_drops_its_values_but_not_the_background_colour():
    s = spec(c("colour", "attribute", "keep"))
    assert optimise("a red ring on a blue background", s) == "zxq, a ring on a blue background"


def test_modify_value_named_differently_from_the_concept_is_swapped_in_place():
    # "shape colour" = red; the caption says "red circle", never "shape".
    s = spec(c("shape colour", "attribute", "modify", value="red", alternatives=["blue", "green"]))
    assert optimise("a red circle on a white background", s, {"shape colour": "green"}) == (
        "zxq, a green circle on a white background")


def test_the_trigger_means_the_kept_things_the_captions_give_over_to_it():
    """What pivotal tuning starts the trigger at: the words the optimiser drops because the trigger carries them."""
    assert trigger_meaning(spec(c("ring shape", "attribute", "keep"), c("colour", "attribute", "modify"),
                                c("watermark", "instance", "delete"))) == "ring"
    jacket = spec(c("black jacket", "instance", "keep"), c("face", "instance", "keep"))
    assert trigger_meaning(jacket) == "black jacket face"
    assert optimise("a woman wearing a black jacket", jacket) == "zxq, a woman"  # the same words leave the caption
    # Nothing kept with a name of its own: a kept bare attribute, a kept style, only deletes.
    assert trigger_meaning(spec(c("colour", "attribute", "keep"))) == ""
    assert trigger_meaning(spec(c("watercolour style", "imagery", "keep"))) == ""
    assert trigger_meaning(spec(c("watermark", "instance", "delete"))) == ""
