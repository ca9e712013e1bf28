"""Spec -> the engine's ``[loss]`` table: per concept the weight W and preserve P inside its mask."""

from __future__ import annotations

from typing import Any

from tuitune.intent.spec import DONT_CARE_LOSS, Concept, Granularity, IntentSpec, is_dont_care, loss_defaults

# Imagery concepts that mean "whatever is not the subject"; their mask is the area no other concept covers.
BACKGROUND_WORDS = frozenset({"background", "backdrop", "backgrounds", "surroundings", "scene", "scenery",
                              "setting", "environment"})


def is_background(concept: Concept) -> bool:
    """The concept stands for the rest of the picture ("the background", "surroundings")."""
    return concept.granularity is Granularity.IMAGERY and bool(set(concept.name.casefold().split()) & BACKGROUND_WORDS)


def concept_loss(concept: Concept) -> dict[str, Any]:
    """The concept's ``[loss.concepts]`` entry: W and P inside its mask (the spec's defaults and overrides),
    the mask file the exporter writes for it, its operation and whether the user said it doesn't matter."""
    from tuitune.data.dataset import concept_filename

    weight, preserve = loss_defaults(concept)
    entry: dict[str, Any] = {"weight": float(weight), "preserve": float(preserve),
                             "mask": concept_filename(concept.name), "operation": concept.operation.value}
    if is_dont_care(concept):
        entry["dont_care"] = True
    return entry


def loss_table(spec: IntentSpec, preservation: float = 1.0) -> dict[str, Any]:
    """The ``[loss]`` table for the engine config (the mapping every area shares)."""
    concepts = {c.name: concept_loss(c) for c in spec.concepts}
    named = [c for c in spec.concepts if is_background(c)]
    # Imagery (style, lighting) covers the whole picture; only things with a place leave a "rest".
    focused = any(c.granularity is not Granularity.IMAGERY for c in spec.concepts)
    if named:
        # The user said what the rest of the picture is worth: pixels no mask covers get the same.
        weight, preserve = (max(v) for v in zip(*(loss_defaults(c) for c in named), strict=True))
        background = {"background_weight": float(weight), "background_preserve": float(preserve)}
    elif focused:
        # Nothing said about the rest of the picture: it doesn't matter, like a background said not to.
        weight, preserve = DONT_CARE_LOSS
        background = {"background_weight": float(weight), "background_preserve": float(preserve)}
    else:
        background = {"background_weight": 1.0, "background_preserve": 0.0}
    any_preserve = background["background_preserve"] > 0 or any(v["preserve"] > 0 for v in concepts.values())
    return {
        "preservation": preservation if any_preserve else 0.0,
        **background,
        "concepts": concepts,
    }
