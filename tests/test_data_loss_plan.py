"""The spec -> [loss] table: defaults per operation from the spec, user overrides, the rest of the picture."""

from __future__ import annotations

from pathlib import Path

from tuitune.data.loss_plan import loss_table
from tuitune.intent.rules import RuleParser
from tuitune.intent.spec import DONT_CARE_LOSS, Concept, IntentSpec, is_dont_care
from tuitune.train.config import LossSection

INTENT = Path(__file__).parents[1] / "sample_projects" / "toyworld-watermark" / "intent.txt"


def test_sample_intent_gives_the_region_aware_table_the_engine_reads() -> None:
    spec = RuleParser().parse(INTENT.read_text(), None, [])
    table = loss_table(spec)
    concepts = table["concepts"]
    # delete: not learned, base model kept
    assert concepts["watermark"] == {"weight": 0.0, "preserve": 1.0, "mask": "watermark", "operation": "delete"}
    assert concepts["ring shape"] == {"weight": 1.0, "preserve": 0.0, "mask": "ring shape", "operation": "keep"}
    assert concepts["colour"] == {"weight": 1.0, "preserve": 0.0, "mask": "colour", "operation": "modify"}
    # Doesn't matter: a flag; learned with the rest of the picture, held to the base model's prediction.
    assert concepts["background"] == {"weight": 1.0, "preserve": 1.0, "mask": "background", "operation": "modify",
                                      "dont_care": True}
    assert table["background_weight"] == 1.0 and table["background_preserve"] == 1.0
    assert table["preservation"] == 1.0
    section = LossSection.model_validate(table)  # the engine's own schema accepts it as is
    assert section.concepts["watermark"].preserve == 1.0


def test_user_overrides_win_over_the_operation_defaults() -> None:
    spec = IntentSpec(trigger_words=["zxq"], concepts=[
        Concept(name="logo", granularity="instance", operation="delete", preserve=0.5),
        Concept(name="face", granularity="instance", operation="keep", loss_weight=2.0),
    ])
    concepts = loss_table(spec)["concepts"]
    assert (concepts["logo"]["weight"], concepts["logo"]["preserve"]) == (0.0, 0.5)
    assert (concepts["face"]["weight"], concepts["face"]["preserve"]) == (2.0, 0.0)


def test_the_rest_of_the_picture() -> None:
    focused = IntentSpec(trigger_words=["zxq"], concepts=[Concept(name="face", granularity="instance", operation="keep")])
    table = loss_table(focused)
    # Nothing said about the rest: it doesn't matter, as if the user had said so.
    assert (table["background_weight"], table["background_preserve"]) == DONT_CARE_LOSS == (1.0, 1.0)
    learned = IntentSpec(trigger_words=["zxq"], concepts=[
        Concept(name="face", granularity="instance", operation="keep"),
        Concept(name="background", granularity="imagery", operation="keep"),
    ])
    table = loss_table(learned)
    assert (table["background_weight"], table["background_preserve"]) == (1.0, 0.0)
    style = IntentSpec(trigger_words=["zxq"], concepts=[Concept(name="style", granularity="imagery", operation="keep")])
    table = loss_table(style)
    # A whole-picture style: everything is learned, nothing to preserve, so the base-model pass is skipped.
    assert (table["background_weight"], table["background_preserve"], table["preservation"]) == (1.0, 0.0, 0.0)


def test_every_dont_care_concept_gets_the_dont_care_rule() -> None:
    # "Doesn't matter" is the concept's flag (specs saved before it, with the 0.1 + preserve 1 marker, read
    # with the flag set); any such concept, background or not, gets the don't-care weights.
    spec = RuleParser().parse("keep the face; the lighting and the background don't matter", None, [])
    assert {c.name for c in spec.concepts if is_dont_care(c)} == {"lighting", "background"}
    table = loss_table(spec)
    wp = {name: (c["weight"], c["preserve"], c.get("dont_care", False)) for name, c in table["concepts"].items()}
    assert wp["lighting"] == wp["background"] == (1.0, 1.0, True)
    assert wp["face"] == (1.0, 0.0, False)
    assert (table["background_weight"], table["background_preserve"], table["preservation"]) == (1.0, 1.0, 1.0)
    saved = IntentSpec(trigger_words=["zxq"], concepts=[
        Concept(name="sky", granularity="imagery", operation="modify", loss_weight=0.1, preserve=1.0),
        Concept(name="hat", granularity="instance", operation="modify", loss_weight=0.5, preserve=1.0),
        Concept(name="scarf", granularity="instance", operation="modify", loss_weight=0.05, preserve=1.0),
    ])
    concepts = loss_table(saved)["concepts"]
    assert (concepts["sky"]["weight"], concepts["sky"]["preserve"], concepts["sky"]["dont_care"]) == (1.0, 1.0, True)
    # Real weights the user chose are kept, also below the old marker (0.05 used to train at W 1).
    assert (concepts["hat"]["weight"], concepts["hat"]["preserve"]) == (0.5, 1.0) and "dont_care" not in concepts["hat"]
    assert (concepts["scarf"]["weight"], concepts["scarf"]["preserve"]) == (0.05, 1.0)


def test_delete_only_spec_learns_the_rest_and_holds_it_to_the_base() -> None:
    spec = IntentSpec(trigger_words=["zxq"], concepts=[
        Concept(name="watermark", granularity="instance", operation="delete")])
    table = loss_table(spec)
    assert (table["concepts"]["watermark"]["weight"], table["concepts"]["watermark"]["preserve"]) == (0.0, 1.0)
    assert (table["background_weight"], table["background_preserve"], table["preservation"]) == (1.0, 1.0, 1.0)
    # A custom lambda reaches the engine's table unchanged.
    assert loss_table(spec, preservation=0.5)["preservation"] == 0.5
