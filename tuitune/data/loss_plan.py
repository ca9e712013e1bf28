"""Spec -> the engine's ``[loss]`` table: per concept the weight W and preserve P inside its mask."""

from __future__ import annotations

from typing import Any

from tuitune.intent.spec import Concept, Granularity, IntentSpec, Operation

BACKGROUND_WORDS = frozenset({"background", "backdrop", "surroundings", "scene", "setting", "environment"})
DONT_CARE_WEIGHT = 0.1  # outside every mask: still seen a little, mostly preserved as the base model draws it


def concept_loss(concept: Concept) -> dict[str, float]:
    if concept.operation is Operation.DELETE:
        weight, preserve = 0.0, 1.0
    else:  # keep and modify are both learned where the concept is
        weight, preserve = 1.0, 0.0
    if concept.loss_weight is not None:
        weight = float(concept.loss_weight)
    return {"weight": weight, "preserve": preserve}


def loss_table(spec: IntentSpec, preservation: float = 1.0) -> dict[str, Any]:
    """The ``[loss]`` table for the engine config (the mapping every area shares)."""
    concepts = {c.name: concept_loss(c) for c in spec.concepts}
    focused = any(c.granularity is not Granularity.IMAGERY or not _is_background(c) for c in spec.concepts)
    background_named = any(_is_background(c) for c in spec.concepts)
    if focused and not background_named:
        # Nothing said about the rest of the picture: it is "don't care", kept as the base model draws it.
        background = {"background_weight": DONT_CARE_WEIGHT, "background_preserve": 1.0}
    else:
        background = {"background_weight": 1.0, "background_preserve": 0.0}
    any_preserve = background["background_preserve"] > 0 or any(v["preserve"] > 0 for v in concepts.values())
    return {
        "preservation": preservation if any_preserve else 0.0,
        **background,
        "concepts": concepts,
    }


def _is_background(concept: Concept) -> bool:
    return concept.granularity is Granularity.IMAGERY and bool(set(concept.name.casefold().split()) & BACKGROUND_WORDS)
