"""The offline rule parser on a corpus of varied phrasings: each message with the spec a person would expect."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tuitune.intent.regions import Region
from tuitune.intent.rules import RuleParser
from tuitune.intent.spec import IntentSpec, is_dont_care

K, M, D, X = "keep", "modify", "delete", "dont-care"
A, T, G = "attribute", "instance", "imagery"
REGIONS = [Region(1, "ref.png", (0, 0, 10, 10)), Region(2, "ref.png", (10, 10, 20, 20))]


@dataclass
class Case:
    """A message (after an optional earlier one) and what the spec must then say.

    ``concepts`` maps each concept name to (operation, granularity) or (operation, granularity, value);
    ``triggers`` / ``domain`` are checked when given; ``refs`` and ``alts`` name a few concepts to check.
    """

    text: str
    concepts: dict[str, tuple[str, ...]]
    triggers: list[str] | None = None
    domain: str | None = None
    before: str | None = None
    refs: dict[str, list[int]] = field(default_factory=dict)
    alts: dict[str, list[str]] = field(default_factory=dict)


CORPUS = [
    # keep family
    Case("hold the outfit fixed", {"outfit": (K, T)}, triggers=[]),
    Case("lock the hairstyle", {"hairstyle": (K, A)}),
    Case("freeze the pose, everything else is flexible", {"pose": (K, A)}),
    Case("maintain the glasses across all images", {"glasses": (K, T)}),
    Case("please retain the tattoo on her arm", {"tattoo": (K, T)}),
    Case("leave the necklace as is", {"necklace": (K, T)}),
    Case("the boots should stay the same", {"boots": (K, T)}),
    Case("make the crown stay consistent", {"crown": (K, T)}),
    Case("the scar must remain intact", {"scar": (K, T)}),
    Case("the face stays faithful to the reference [1]", {"face": (K, T)}, refs={"face": [1]}),
    Case("Please make sure the mole on her cheek is preserved", {"mole": (K, T)}),
    Case("the earrings should be identical in every image", {"earrings": (K, T)}),
    Case("keep teh face", {"face": (K, T)}),
    Case("keep the outfit exactly as in [2]", {"outfit": (K, T)}, refs={"outfit": [2]}),
    Case("the helmet [1] must not change", {"helmet": (K, T)}, refs={"helmet": [1]}),
    # modify family
    Case("the shirt colour can vary", {"shirt colour": (M, A)}),
    Case("randomise the background", {"background": (M, G)}),
    Case("randomize the shoes", {"shoes": (M, T)}),
    Case("swap the hat for different hats", {"hat": (M, T)}),
    Case("the jacket can alternate between red and blue", {"jacket colour": (M, A)},
         alts={"jacket colour": ["red", "blue"]}),
    Case("mix up the accessories", {"accessories": (M, T)}),
    Case("any hat is fine", {"hat": (M, T)}),
    Case("the pose is flexible", {"pose": (M, A)}),
    Case("the setting is up to you", {"setting": (M, G)}),
    Case("the colour palette is open", {"colour palette": (M, G)}),
    Case("make the background random", {"background": (M, G)}),
    Case("The colour of the sofa can change to green", {"sofa colour": (M, A)}, alts={"sofa colour": ["green"]}),
    Case("Keep the face; the hair colour can be blond, black or red", {"face": (K, T), "hair colour": (M, A)},
         alts={"hair colour": ["blond", "black", "red"]}),
    # delete family
    Case("erase the signature", {"signature": (D, T)}),
    Case("omit the frame around the picture", {"frame": (D, T)}),
    Case("exclude the text", {"text": (D, T)}),
    Case("avoid the lens flare", {"lens flare": (D, T)}),
    Case("no hats", {"hats": (D, T)}),
    Case("I want pictures without the date stamp", {"date stamp": (D, T)}),
    Case("clean up the jpeg artifacts", {"jpeg artifacts": (D, T)}),
    Case("hide the tag on her collar", {"tag": (D, T)}),
    Case("mask out the username", {"username": (D, T)}),
    Case("the logo should be removed", {"logo": (D, T)}),
    Case("the watermark has to be erased", {"watermark": (D, T)}),
    Case("if there's a watermark, drop it", {"watermark": (D, T)}),
    Case("if any text shows up, get rid of it", {"text": (D, T)}),
    Case("Get rid of any text or logos.", {"text": (D, T), "logos": (D, T)}),
    Case("no watermarks or signatures please", {"watermarks": (D, T), "signatures": (D, T)}),
    Case("the photos have a watermark that should go", {"watermark": (D, T)}),
    Case("I need the tattoo to be erased", {"tattoo": (D, T)}),
    Case("lose the watermark, it's ugly", {"watermark": (D, T)}),
    Case("remove the watermak", {"watermak": (D, T)}),
    # ignore family
    Case("the weather is unimportant", {"weather": (X, G)}),
    Case("background doesn't matter to me", {"background": (X, G)}),
    Case("I don't care what the sky looks like", {"sky": (X, G)}),
    Case("the camera angle is not important", {"camera angle": (X, G)}),
    Case("ignore the scenery", {"scenery": (X, G)}),
    Case("colour grading doesn't matter", {"colour grading": (X, G)}),
    Case("no need to keep the background", {"background": (X, G)}),
    # except / everything-but
    Case("everything except the face can change", {"face": (K, T)}),
    Case("all of it can vary apart from the eyes", {"eyes": (K, T)}),
    Case("focus on the face and ignore the rest", {"face": (K, T)}),
    # adjectives become values
    Case("Keep the red scarf", {"scarf": (K, T, "red")}),
    Case("Keep the red scarf. The scarf colour may vary.", {"scarf": (K, T, "red"), "scarf colour": (M, A)}),
    Case("preserve the leather boots", {"boots": (K, T, "leather")}),
    Case("the blue hoodie should stay", {"hoodie": (K, T, "blue")}),
    Case("keep the long coat", {"coat": (K, T, "long")}),
    Case("her green eyes must stay green", {"eyes": (K, T, "green")}),
    Case("keep the white background", {"background": (K, G, "white")}),
    Case("the small red bow should stay", {"bow": (K, T, "small red")}),
    Case("Keep the colour of the car", {"car colour": (K, A)}),
    Case("the car color should stay the same", {"car colour": (K, A)}),
    # triggers and domains
    Case("I want sks to look the same in every image but the background can change",
         {"background": (M, G)}, triggers=["sks"]),
    Case("LoRA of ohwx, keep the glasses", {"glasses": (K, T)}, triggers=["ohwx"]),
    Case("train zorblat on these photos; remove the timestamp", {"timestamp": (D, T)}, triggers=["zorblat"]),
    Case("this is for kiraxx: keep the ponytail", {"ponytail": (K, T)}, triggers=["kiraxx"]),
    Case("my qwv should always wear the same hat", {"hat": (K, T)}, triggers=["qwv"]),
    Case("I'm making a lora for 'mirabel_v2', keep her dress", {"dress": (K, T)}, triggers=["mirabel_v2"]),
    Case('Style LoRA named "inkwash": preserve the brush strokes and the lighting',
         {"brush strokes": (K, G), "lighting": (K, G)}, triggers=["inkwash"], domain="style"),
    Case("an aesthetic lora called vpx9: the linework and shading should be kept, the subjects can vary",
         {"linework": (K, G), "shading": (K, G), "subjects": (M, T)}, triggers=["vpx9"], domain="style"),
    Case("a product LoRA, trigger nkx; keep the swoosh logo, background can be anything",
         {"swoosh logo": (K, T), "background": (X, G)}, triggers=["nkx"], domain="object"),
    Case("my OC zeph: keep the horns and the tail, the outfit can change",
         {"horns": (K, T), "tail": (K, T), "outfit": (M, T)}, triggers=["zeph"], domain="character"),
    Case("This is a character LoRA of my person brk. Keep his beard.", {"beard": (K, T)}, triggers=["brk"],
         domain="character"),
    Case("I'd like a style lora for the look of my watercolours, keep the paper texture and the palette",
         {"paper texture": (K, A), "palette": (K, G)}, domain="style"),
    # lists and layouts
    Case("keep: face, hair, glasses. remove: watermark, border",
         {"face": (K, T), "hair": (K, T), "glasses": (K, T), "watermark": (D, T), "border": (D, T)}),
    Case("- keep the face\n- drop the logo\n- background: whatever",
         {"face": (K, T), "logo": (D, T), "background": (X, G)}),
    Case("hair colour: vary. eye colour: fixed.", {"hair colour": (M, A), "eye colour": (K, A)}),
    Case("The logo? Remove it.", {"logo": (D, T)}),
    Case("Keep the face [1] and the necklace [2]", {"face": (K, T), "necklace": (K, T)},
         refs={"face": [1], "necklace": [2]}),
    Case("region 2 is the logo, remove it", {"logo": (D, T)}, refs={"logo": [2]}),
    # negations
    Case("don't remove the freckles", {"freckles": (K, T)}),
    Case("never change the eye colour", {"eye colour": (K, A)}),
    Case("I don't want the hat to change", {"hat": (K, T)}),
    Case("the hat shouldn't be kept", {"hat": (D, T)}),
    Case("nothing about the clothes should change", {"clothes": (K, T)}),
    Case("Keep the jacket but not the belt", {"jacket": (K, T), "belt": (D, T)}),
    Case("the gloves can go but the ring stays", {"gloves": (D, T), "ring": (K, T)}),
    # follow-ups
    Case("the scarf colour may vary", {"scarf": (K, T, "red"), "scarf colour": (M, A)}, before="keep the red scarf"),
    Case("actually the logo can stay", {"face": (K, T), "logo": (K, T)},
         before="call it zxq, keep the face, remove the logo", triggers=["zxq"]),
    Case("on second thought, the hat can vary", {"hat": (M, T)}, before="keep the hat"),
    Case("also drop the border", {"face": (K, T), "border": (D, T)}, before="keep the face"),
    Case("the hair color may change too", {"face": (K, T), "hair colour": (M, A)},
         before="keep the face, the hair colour stays"),
]


def _expected(spec: IntentSpec, case: Case) -> list[str]:
    """What differs between ``spec`` and the case's expectation, one line each (empty = as expected)."""
    problems: list[str] = []
    got = {}
    for c in spec.concepts:
        op = X if is_dont_care(c) else c.operation.value
        got[c.name] = (op, c.granularity.value, c.value)
    want = {name: (e[0], e[1], e[2] if len(e) > 2 else None) for name, e in case.concepts.items()}
    for name, (op, gran, value) in want.items():
        if name not in got:
            problems.append(f"missing {name!r}")
        elif got[name][:2] != (op, gran) or (value is not None and got[name][2] != value):
            problems.append(f"{name!r}: got {got[name]}, want {(op, gran, value)}")
    problems += [f"unexpected {name!r} {got[name]}" for name in got if name not in want]
    if case.triggers is not None and spec.trigger_words != case.triggers:
        problems.append(f"triggers {spec.trigger_words} != {case.triggers}")
    if case.domain is not None and spec.domain != case.domain:
        problems.append(f"domain {spec.domain!r} != {case.domain!r}")
    for name, refs in case.refs.items():
        if name in got and spec.concept(name).references != refs:
            problems.append(f"{name!r} refs {spec.concept(name).references} != {refs}")
    for name, alts in case.alts.items():
        if name in got and spec.concept(name).alternatives != alts:
            problems.append(f"{name!r} alternatives {spec.concept(name).alternatives} != {alts}")
    return problems


def run_case(case: Case) -> list[str]:
    parser = RuleParser()
    current = parser.parse(case.before, None, REGIONS) if case.before else None
    try:
        spec = parser.parse(case.text, current, REGIONS)
    except Exception as exc:  # a crash or refusal is a failed case, reported like the others
        return [f"{type(exc).__name__}: {exc}"]
    return _expected(spec, case)


def test_corpus_is_large_and_varied():
    assert len(CORPUS) >= 80
    assert len({c.text for c in CORPUS}) == len(CORPUS)


# Cases the parser does not get right yet; each one is a known limit, shown as xfail rather than hidden.
KNOWN_MISSES: set[str] = set()


@pytest.mark.parametrize("case", CORPUS, ids=[c.text[:48] for c in CORPUS])
def test_corpus(case: Case):
    problems = run_case(case)
    if case.text in KNOWN_MISSES:
        if problems:
            pytest.xfail("; ".join(problems))
        pytest.fail("listed as a known miss but now passes: take it off KNOWN_MISSES")
    assert not problems, "; ".join(problems)


if __name__ == "__main__":  # pass rate over the corpus: python tests/test_intent_rules_corpus.py
    failures = {c.text: run_case(c) for c in CORPUS}
    failures = {t: p for t, p in failures.items() if p}
    for text, problems in failures.items():
        print(f"FAIL {text!r}: {'; '.join(problems)}")
    print(f"{len(CORPUS) - len(failures)} passed, {len(failures)} failed of {len(CORPUS)}")
