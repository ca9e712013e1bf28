"""Trigger words and domains: made-up tokens the message is about, told apart from words and typos."""

from __future__ import annotations

import pytest

from tuitune.intent import lexicon as lx
from tuitune.intent.rules import RuleParser
from tuitune.intent.triggers import find_triggers


@pytest.mark.parametrize("word", ["scarf", "outfits", "watermark", "freckles", "hoodie", "colour", "randomise",
                                  "strokes", "t-shirt", "Jacket"])
def test_dictionary_words_are_words(word):
    assert lx.is_word(word)


@pytest.mark.parametrize("token", ["sks", "ohwx", "zxq", "kiraxx", "vpx9", "mirabel_v2", "zorblat"])
def test_made_up_tokens_are_not_words(token):
    assert not lx.is_word(token)


@pytest.mark.parametrize(("text", "triggers"), [
    ("I want sks to look the same in every image", ["sks"]),
    ("LoRA of ohwx with the glasses kept", ["ohwx"]),
    ("train zorblat on these photos", ["zorblat"]),
    ("zxq's hat should stay", ["zxq"]),
    ("my character Mira: keep the hat", ["Mira"]),  # a real word, but a capitalised name after "my character"
    ("remove the watermak", []),  # a typo of a thing in the picture, not a name
    ("the face stays the same", []),  # "the face stays" is not "my character stays"
    ("keep teh face", []),
])
def test_triggers_by_position(text, triggers):
    assert find_triggers(text)[0] == triggers


def test_the_trigger_is_not_also_a_concept():
    spec = RuleParser().parse("I want sks to look the same in every image but the background can change", None, [])
    assert spec.trigger_words == ["sks"] and [c.name for c in spec.concepts] == ["background"]


@pytest.mark.parametrize(("text", "domain"), [
    ("style lora: keep the brush strokes", "style"),
    ("an aesthetic lora, keep the palette", "style"),
    ("my OC zeph: keep the horns", "character"),
    ("a product LoRA: keep the label", "object"),
])
def test_domain_from_cues(text, domain):
    assert RuleParser().parse(text, None, []).domain == domain


def test_style_words_are_the_look_in_a_style_lora_but_things_elsewhere():
    style = RuleParser().parse('Style LoRA named "inkwash": keep the lines and the paper', None, [])
    assert {c.name: c.granularity.value for c in style.concepts} == {"lines": "imagery", "paper": "imagery"}
    character = RuleParser().parse("my character zxq: keep the lines on her face", None, [])
    assert character.concept("lines").granularity.value == "instance"


# Phrasings probed after the corpus passed, each a class the corpus had missed.
@pytest.mark.parametrize(("text", "expected"), [
    ("the glasses stay, the watch goes", {"glasses": "keep", "watch": "delete"}),
    ("scrap the signature", {"signature": "delete"}),
    ("dont change the eye colour", {"eye colour": "keep"}),
    ("Everything but the hair may vary", {"hair": "keep"}),
])
def test_held_out_probe(text, expected):
    spec = RuleParser().parse(text, None, [])
    assert {c.name: c.operation.value for c in spec.concepts} == expected


def test_adjectives_describe_the_same_object_across_messages():
    parser = RuleParser()
    spec = parser.parse("Keep the red scarf", None, [])
    assert spec.concept("scarf").value == "red"
    spec = parser.parse("the scarf colour may vary", spec, [])
    assert spec.concept("scarf").operation.value == "keep"
    assert spec.concept("scarf colour").operation.value == "modify"


def test_contradiction_still_asks():
    from tuitune.intent.errors import IntentQuestion

    with pytest.raises(IntentQuestion):
        RuleParser().parse("hold the outfit fixed and remove the outfit", None, [])
