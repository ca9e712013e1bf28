"""The rules parser's classes of phrasing: negation, exclusion, stated values, clause boundaries, and the three
defects found in the app that led to them. Apart from those three, none of these messages is in
tests/data/intent_phrasings.jsonl."""

from __future__ import annotations

import pytest

from tuitune.intent.rules import RuleParser
from tuitune.intent.spec import Concept, IntentSpec, diff, is_dont_care

K, M, D, X = "keep", "modify", "delete", "dont-care"
RING = ("zxq is my character: a ring. Keep its shape. Its colour can vary (red, orange...). "
        "Delete the watermark in the corner. The background doesn't matter.")


def ops(spec: IntentSpec) -> dict[str, str]:
    return {c.name: X if is_dont_care(c) else c.operation.value for c in spec.concepts}


def parse(text: str, before: str | None = None) -> IntentSpec:
    parser = RuleParser()
    return parser.parse(text, parser.parse(before, None, []) if before else None, [])


# The three reported defects.

def test_not_green_excludes_green_instead_of_offering_it():
    spec = parse("let the colour vary again, but not green", before=RING)
    colour = spec.concept("colour")
    assert colour.operation.value == M and colour.excluded == ["green"]
    assert colour.alternatives == ["red", "orange"]  # the values said before stay; green is not one of them
    assert ops(spec) == {"ring shape": K, "colour": M, "watermark": D, "background": X}


def test_a_stated_fixed_value_is_kept_with_that_value():
    background = parse("The background should be plain white").concept("background")
    assert background.operation.value == K and background.value == "plain white"
    assert not is_dont_care(background) and background.alternatives == []


def test_two_sentences_are_two_instructions_not_a_question():
    spec = parse("Clothing style may change. Scratches and dust on the photo need to disappear")
    assert ops(spec) == {"clothing style": M, "scratches": D, "dust": D}


# Negation: "not", "never", "no longer", "don't keep", "neither ... nor", an auxiliary standing for the verb.

@pytest.mark.parametrize(("text", "before", "expected"), [
    ("the sleeves can change. the buttons can't", None, {"sleeves": M, "buttons": K}),
    ("keep the logo. Actually, don't.", None, {"logo": D}),
    ("neither the logo nor the text should be kept", None, {"logo": D, "text": D}),
    ("the bow shouldn't be removed, nor the bell", None, {"bow": K, "bell": K}),
    ("avoid changing the eyes", None, {"eyes": K}),
    ("the hat doesn't have to stay the same", None, {"hat": M}),
    ("the hat doesn't have to stay", None, {"hat": D}),
    ("no longer remove the text", "remove the text", {"text": K}),
    ("I want neither the border nor the stamp", None, {"border": D, "stamp": D}),
    ("change nothing but the hair colour", None, {"hair colour": M}),
    ("keep nothing but the face", None, {"face": K}),
])
def test_negation(text, before, expected):
    assert ops(parse(text, before)) == expected


# Exclusion: "except", "but", "other than", "apart from", "not", "never", "no" before values.

@pytest.mark.parametrize(("text", "name", "excluded", "alternatives"), [
    ("her dress may be any colour apart from red and pink", "dress colour", ["red", "pink"], []),
    ("anything but white for the sneakers", "sneaker colour", ["white"], []),
    ("Hair colour: anything except blonde.", "hair colour", ["blonde"], []),
    ("the kite can be blue, green or red, not yellow though", "kite colour", ["yellow"], ["blue", "green", "red"]),
    ("the hair shouldn't be black", "hair colour", ["black"], []),
    ("the fence must never be painted pink", "fence colour", ["pink"], []),
    ("any background except a beach", "background", ["beach"], []),
    ("other than red and blue, the kite can be any colour", "kite colour", ["red", "blue"], []),
    ("the bike can be any colour but red", "bike colour", ["red"], []),
    ("any colour other than brown for the gloves", "glove colour", ["brown"], []),
])
def test_exclusion(text, name, excluded, alternatives):
    spec = parse(text)
    assert ops(spec) == {name: M}
    assert spec.concept(name).excluded == excluded and spec.concept(name).alternatives == alternatives


def test_an_exclusion_in_a_follow_up_finds_its_concept():
    assert parse("though never orange", before="the scarf colour may vary").concept("scarf colour").excluded == [
        "orange"]
    spec = parse("but not yellow", before="keep the hat")
    assert ops(spec) == {"hat": K, "hat colour": M} and spec.concept("hat colour").excluded == ["yellow"]


def test_an_allowed_value_is_no_longer_excluded():
    spec = parse("the car colour can be green or blue", before="the car can be any colour except green")
    car = spec.concept("car colour")
    assert car.alternatives == ["green", "blue"] and car.excluded == []


# Values: a value it must have is kept; a value it is given is a modification.

@pytest.mark.parametrize(("text", "name", "operation", "value", "alternatives"), [
    ("keep the sofa blue", "sofa", K, "blue", []),
    ("the rug is to be red", "rug", K, "red", []),
    ("make sure the background is white", "background", K, "white", []),
    ("her hair is brown; keep it that way", "hair", K, "brown", []),
    ("she should have red hair", "hair", K, "red", []),
    ("make her eyes blue", "eye colour", M, None, ["blue"]),
    ("turn the background black", "background colour", M, None, ["black"]),
    ("the couch doesn't have to stay grey", "couch", M, "grey", []),
    ("the mug should be white or grey", "mug colour", M, None, ["white", "grey"]),
    ("Hair: blonde or brunette", "hair colour", M, None, ["blonde", "brunette"]),
])
def test_values(text, name, operation, value, alternatives):
    spec = parse(text)
    assert ops(spec) == {name: operation}
    assert spec.concept(name).value == value and spec.concept(name).alternatives == alternatives


# Clause boundaries: sentences, ";", ", but", "and" and "without" between independent clauses.

@pytest.mark.parametrize(("text", "expected"), [
    ("the jacket can vary, the boots stay, the hat goes", {"jacket": M, "boots": K, "hat": D}),
    ("stains, tears and fold lines should be removed; the faces stay",
     {"stains": D, "tears": D, "fold lines": D, "faces": K}),
    ("remove the date, but keep the border and the grain can vary", {"date": D, "border": K, "grain": M}),
    ("the frame stays. The glass reflections have to go", {"frame": K, "glass reflections": D}),
    ("keep the sleeves without the buttons", {"sleeves": K, "buttons": D}),
    ("it's fine to change the hair but don't touch the face", {"hair": M, "face": K}),
    ("keep the bottle shape and the label, the cap can be gold or silver", {"bottle shape": K, "label": K,
                                                                           "cap colour": M}),
])
def test_clause_boundaries(text, expected):
    assert ops(parse(text)) == expected


# The spec's new field.

def test_excluded_is_optional_so_saved_specs_and_llm_replies_load():
    saved = '{"trigger_words": ["zxq"], "concepts": [{"name": "hair colour", "granularity": "attribute", ' \
            '"operation": "modify", "alternatives": ["blue"]}]}'
    assert IntentSpec.from_json(saved).concepts[0].excluded == []
    reply = Concept.model_validate({"name": "hair colour", "granularity": "attribute", "operation": "modify",
                                    "excluded": ["green", " Green "]})
    assert reply.excluded == ["green"]
    before = IntentSpec.from_json(saved)
    after = before.model_copy(update={"concepts": [before.concepts[0].model_copy(update={"excluded": ["green"]})]})
    assert "hair colour: excluded none -> green" in diff(before, after)
