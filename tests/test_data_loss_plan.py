"""The spec -> [loss] table: defaults per operation from the spec, user overrides, the rest of the picture."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.data.loss_plan import loss_table
from tuitune.intent.rules import RuleParser
from tuitune.intent.spec import Concept, IntentSpec
from tuitune.train.config import LossSection

INTENT = Path(__file__).parents[1] / "sample_projects" / "toyworld-watermark" / "intent.txt"


def test_sample_intent_gives_the_region_aware_table_the_engine_reads() -> None:
    spec = RuleParser().parse(INTENT.read_text(), None, [])
    table = loss_table(spec)
    concepts = table["concepts"]
    assert concepts["watermark"] == {"weight": 0.0, "preserve": 1.0}  # delete: not learned, base model kept
    assert concepts["ring shape"] == {"weight": 1.0, "preserve": 0.0}  # keep: learned
    assert concepts["colour"] == {"weight": 1.0, "preserve": 0.0}  # modify: learned
    assert concepts["background"] == {"weight": pytest.approx(0.1), "preserve": 1.0}  # doesn't matter
    assert table["background_weight"] == pytest.approx(0.1) and table["background_preserve"] == 1.0
    assert table["preservation"] == 1.0
    section = LossSection.model_validate(table)  # the engine's own schema accepts it as is
    assert section.concepts["watermark"].preserve == 1.0


def test_user_overrides_win_over_the_operation_defaults() -> None:
    spec = IntentSpec(trigger_words=["zxq"], concepts=[
        Concept(name="logo", granularity="instance", operation="delete", preserve=0.5),
        Concept(name="face", granularity="instance", operation="keep", loss_weight=2.0),
    ])
    concepts = loss_table(spec)["concepts"]
    assert concepts["logo"] == {"weight": 0.0, "preserve": 0.5}
    assert concepts["face"] == {"weight": 2.0, "preserve": 0.0}


def test_the_rest_of_the_picture() -> None:
    focused = IntentSpec(trigger_words=["zxq"], concepts=[Concept(name="face", granularity="instance", operation="keep")])
    table = loss_table(focused)
    # Nothing said about the rest: it is barely learned and held to the base model.
    assert (table["background_weight"], table["background_preserve"]) == (pytest.approx(0.1), 1.0)
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
