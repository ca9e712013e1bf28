"""The offline rule parser over phrasings a person might type: operations, granularity, negations, follow-ups."""

from __future__ import annotations

import pytest

from tuitune.intent.errors import IntentError, IntentQuestion
from tuitune.intent.regions import Region
from tuitune.intent.rules import RuleParser
from tuitune.intent.spec import IntentSpec, is_dont_care

K, M, D, X = "keep", "modify", "delete", "dont-care"
A, T, G = "attribute", "instance", "imagery"
REGIONS = [Region(1, "ref.png", (0, 0, 10, 10)), Region(2, "ref.png", (10, 10, 20, 20))]


def concepts(spec: IntentSpec) -> dict[str, tuple[str, str]]:
    return {c.name: (X if is_dont_care(c) else c.operation.value, c.granularity.value) for c in spec.concepts}


PHRASINGS = [
    ("keep the face", {"face": (K, T)}),
    ("Preserve her face and the black jacket.", {"face": (K, T), "jacket": (K, T)}),
    ("the face should stay the same", {"face": (K, T)}),
    ("her eyes must remain unchanged", {"eyes": (K, T)}),
    ("please don't change her face", {"face": (K, T)}),
    ("the hair colour can change", {"hair colour": (M, A)}),
    ("her hair can be any colour", {"hair colour": (M, A)}),
    ("the hair colour is free to change", {"hair colour": (M, A)}),
    ("hair length can vary", {"hair length": (M, A)}),
    ("the colour of her hair may differ", {"hair colour": (M, A)}),
    ("eye colour: any", {"eye colour": (M, A)}),
    ("her expression can vary but her pose should stay consistent", {"expression": (M, A), "pose": (K, A)}),
    ("get rid of the watermark", {"watermark": (D, T)}),
    ("remove the logo and the signature", {"logo": (D, T), "signature": (D, T)}),
    ("lose the frame", {"frame": (D, T)}),
    ("strip the text overlay", {"text overlay": (D, T)}),
    ("without the watermark please", {"watermark": (D, T)}),
    ("I don't want the watermark", {"watermark": (D, T)}),
    ("no watermark, no text, no border", {"watermark": (D, T), "text": (D, T), "border": (D, T)}),
    ("the logo shouldn't appear", {"logo": (D, T)}),
    ("don't keep the logo", {"logo": (D, T)}),
    ("no longer keep the hat", {"hat": (D, T)}),
    ("the tattoo can go", {"tattoo": (D, T)}),
    ("make sure the watermark is gone", {"watermark": (D, T)}),
    ("the background doesn't matter", {"background": (X, G)}),
    ("I don't care about the background or the lighting", {"background": (X, G), "lighting": (X, G)}),
    ("the background can be whatever", {"background": (X, G)}),
    ("lighting is irrelevant", {"lighting": (X, G)}),
    ("the art style should be preserved", {"art style": (K, G)}),
    ("the lighting can vary", {"lighting": (M, G)}),
    ("ignore the watermark", {"watermark": (D, T)}),
    ("keep the face, not the logo", {"face": (K, T), "logo": (D, T)}),
    ("remove the watermark but not the logo", {"watermark": (D, T), "logo": (K, T)}),
    ("remove everything except the face", {"face": (K, T)}),
    ("keep the jacket but its colour can change", {"jacket": (K, T), "jacket colour": (M, A)}),
    ("keep the jacket. The colour may change.", {"jacket": (K, T), "jacket colour": (M, A)}),
    ("Keep the shoes; the shirt can change to a hoodie or a sweater",
     {"shoes": (K, T), "shirt": (M, T)}),
    ("I'd like to keep the boots, the gloves and the scarf",
     {"boots": (K, T), "gloves": (K, T), "scarf": (K, T)}),
    ("Background: don't care. Face: keep. Watermark: remove.",
     {"background": (X, G), "face": (K, T), "watermark": (D, T)}),
    ("I don't want the text to be learned", {"text": (D, T)}),
    ("the background should not be learned", {"background": (X, G)}),
    ("her hairstyle is free to change, the earrings should be kept",
     {"hairstyle": (M, A), "earrings": (K, T)}),
]


@pytest.mark.parametrize(("text", "expected"), PHRASINGS, ids=[p[0][:40] for p in PHRASINGS])
def test_phrasing(text, expected):
    assert concepts(RuleParser().parse(text, None, REGIONS)) == expected


def test_the_brief_example_end_to_end():
    text = ("train my character zxq; keep her face [1] and the black jacket [2]; the hair colour can change; "
            "get rid of the watermark; the background doesn't matter")
    spec = RuleParser().parse(text, None, REGIONS)
    assert spec.trigger_words == ["zxq"] and spec.domain == "character"
    assert concepts(spec) == {"face": (K, T), "jacket": (K, T), "hair colour": (M, A),
                              "watermark": (D, T), "background": (X, G)}
    assert spec.concept("face").references == [1] and spec.concept("jacket").references == [2]
    assert spec.concept("jacket").value == "black"  # the colour is described, the thing is the jacket


@pytest.mark.parametrize(("text", "trigger"), [
    ("call it zxq and keep the face", "zxq"),
    ('Use "mychar" as the trigger. Keep the face.', "mychar"),
    ("my dog sks: keep the fur colour", "sks"),
    ("zxq is my OC, keep her outfit", "zxq"),
    ("trigger word: ohwx. keep the face", "ohwx"),
    ("keep 'zkk' face consistent", "zkk"),
])
def test_trigger_words(text, trigger):
    spec = RuleParser().parse(text, None, REGIONS)
    assert spec.trigger_words == [trigger]
    assert all(trigger not in c.name for c in spec.concepts)


def test_values_and_alternatives():
    spec = RuleParser().parse("change the hair colour from red to blue or green", None, [])
    hair = spec.concept("hair colour")
    assert hair.value == "red" and hair.alternatives == ["blue", "green"]
    spec = RuleParser().parse("the hair can be blue, green or pink", None, [])
    assert spec.concept("hair colour").alternatives == ["blue", "green", "pink"]
    assert RuleParser().parse("her red hair can change", None, []).concept("hair colour").value == "red"


def test_follow_ups_refine_the_current_spec():
    parser = RuleParser()
    spec = parser.parse("call it zxq, keep the face [1], remove the logo", None, REGIONS)
    spec = parser.parse("also keep the jacket", spec, REGIONS)
    assert spec.version == 2 and concepts(spec)["jacket"] == (K, T) and concepts(spec)["logo"] == (D, T)
    spec = parser.parse("actually keep the logo", spec, REGIONS)
    assert concepts(spec)["logo"] == (K, T) and spec.version == 3
    spec = parser.parse("the jacket should no longer be kept", spec, REGIONS)
    assert concepts(spec)["jacket"] == (D, T)
    spec = parser.parse("never mind the jacket", spec, REGIONS)
    assert "jacket" not in concepts(spec)
    spec = parser.parse("the face is [2] too", spec, REGIONS)
    assert spec.concept("face").references == [1, 2] and spec.trigger_words == ["zxq"]
    spec = parser.parse("rename it to abc", spec, REGIONS)
    assert spec.trigger_words == ["abc"] and concepts(spec)["face"] == (K, T)


def test_follow_up_with_a_shorter_name_finds_the_concept():
    parser = RuleParser()
    spec = parser.parse("keep the black bomber jacket", None, [])
    assert spec.concept("bomber jacket").value == "black"
    spec = parser.parse("actually the jacket can change", spec, [])
    assert concepts(spec) == {"bomber jacket": (M, T)}


def test_contradiction_asks_instead_of_guessing():
    current = RuleParser().parse("keep the face", None, [])
    with pytest.raises(IntentQuestion, match="keep and to delete 'logo'.*which one") as info:
        RuleParser().parse("keep the logo and remove the logo", current, [])
    assert info.value.options == ("keep", "delete")
    assert concepts(current) == {"face": (K, T)}  # the spec it was refining is untouched


def test_a_correction_in_the_same_message_is_not_a_contradiction():
    spec = RuleParser().parse("keep the logo. No, actually remove it", None, [])
    assert concepts(spec) == {"logo": (D, T)}


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("   \n ", "empty"),
    ("keep the face [3]", r"Region \[3\] does not exist"),
    ("keep " + "the face and " * 2000, "shorter message"),
    ("hello there", "nothing to keep, change or remove"),
])
def test_bad_input_is_one_clear_sentence(text, message):
    with pytest.raises(IntentError, match=message):
        RuleParser().parse(text, None, REGIONS)
