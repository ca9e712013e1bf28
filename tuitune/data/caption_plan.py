"""Caption optimiser: trigger word first, modify-concepts described, keep-concepts left to the trigger, delete stripped."""

from __future__ import annotations

import re

from tuitune.intent.spec import IntentSpec, Operation


def optimise(caption: str, spec: IntentSpec, values: dict[str, str] | None = None) -> str:
    """Rewrite ``caption`` for training; ``values`` names the current value of modify-concepts (by name)."""
    values = {k.casefold(): v for k, v in (values or {}).items()}
    parts = [p.strip() for p in re.split(r"[,\n]", caption) if p.strip()]
    triggers = {t.casefold() for t in spec.trigger_words}
    parts = [p for p in parts if p.casefold() not in triggers]
    for concept in spec.by_operation(Operation.DELETE):
        # A deleted concept must not be named: the LoRA should learn pictures without it.
        words = [concept.name, *([concept.value] if concept.value else [])]
        parts = [p for p in parts if not any(_mentions(p, w) for w in words)]
        parts = [_strip_phrase(p, concept.name) for p in parts]
        parts = [p for p in parts if p]
    for concept in spec.by_operation(Operation.KEEP):
        # Kept concepts are what the trigger word stands for; naming them would split the learning.
        parts = [p for p in parts if p.casefold() != concept.name.casefold()]
    for concept in spec.by_operation(Operation.MODIFY):
        value = values.get(concept.key) or concept.value
        if not value:
            continue
        if concept.value and any(_mentions(p, concept.value) for p in parts):
            parts = [_replace_word(p, concept.value, value) for p in parts]
        elif not any(_mentions(p, value) for p in parts):
            parts.append(f"{value} {_subject(concept.name)}")
    return ", ".join([*spec.trigger_words, *parts])


def _subject(name: str) -> str:
    # "hair colour" -> "hair": the value already is the colour.
    words = name.split()
    if len(words) > 1 and words[-1].casefold() in {"colour", "color", "hue", "tint", "shade"}:
        return " ".join(words[:-1])
    return name


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, flags=re.IGNORECASE) is not None


def _replace_word(text: str, old: str, new: str) -> str:
    return re.sub(rf"\b{re.escape(old)}\b", new, text, flags=re.IGNORECASE)


def _strip_phrase(text: str, name: str) -> str:
    text = re.sub(rf"\b(with|and)?\s*(an?|the)?\s*{re.escape(name)}\b", "", text, flags=re.IGNORECASE)
    return " ".join(text.split()).strip(" ,")
