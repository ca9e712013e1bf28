"""What a message said about each concept (a Said), how concepts are named, and how it all merges into the spec."""

from __future__ import annotations

from dataclasses import dataclass, field

from tuitune.intent import lexicon as lx
from tuitune.intent.errors import IntentQuestion
from tuitune.intent.spec import Concept, Granularity, IntentSpec, Operation


@dataclass
class Said:
    """One concept instruction read from the message, before it is merged into the spec."""

    name: str
    operation: Operation | None  # None = forget (take it out of the spec)
    ignore: bool
    references: list[int]
    value: str | None
    alternatives: list[str]
    clause_index: int
    correction: bool
    refs_only: bool = False  # only adds region numbers to a concept named before
    excluded: list[str] = field(default_factory=list)  # for modify: values it must never take


def granularity_of(name: str, domain: str = "") -> Granularity:
    """Attribute, instance or imagery from the concept's words (a style LoRA's strokes and paper are imagery)."""
    words = name.split()
    last = words[-1]
    if domain == "style" and last in lx.STYLE_IMAGERY_NOUNS | lx.IMAGERY_NOUNS:
        if not (len(words) > 1 and last in lx.ATTRIBUTE_NOUNS):  # "paper texture" is the paper's
            return Granularity.IMAGERY
    if last == "style":
        if len(words) == 1 or words[-2] in lx.IMAGERY_STYLE_PREFIXES:
            return Granularity.IMAGERY
        return Granularity.ATTRIBUTE
    if last in {"colours", "colors"} and len(words) == 1:
        return Granularity.IMAGERY
    if last in lx.ATTRIBUTE_NOUNS:
        return Granularity.ATTRIBUTE
    if any(w in lx.IMAGERY_NOUNS for w in words) or name in lx.IMAGERY_NOUNS:
        return Granularity.IMAGERY
    return Granularity.INSTANCE


def colour_word(word: str) -> str:
    """One spelling for the attribute noun: "color", "colours" -> "colour"."""
    return "colour" if word in {"color", "colours", "colors"} else word


def check_contradictions(said: list[Said]) -> None:
    """The same concept asked to be kept and deleted (or changed) without a correction word: ask."""
    first: dict[str, Said] = {}
    for item in said:
        if item.refs_only:
            continue
        key = item.name.casefold()
        before = first.get(key)
        if before is not None and before.operation != item.operation and not item.correction:
            a = before.operation.value if before.operation else "forget"
            b = item.operation.value if item.operation else "forget"
            if before.ignore != item.ignore and {a, b} == {"modify"}:
                pass
            else:
                raise IntentQuestion(
                    f"You asked to {a} and to {b} {item.name!r} in the same message; which one do you mean?",
                    concept=item.name,
                    options=(a, b),
                )
        first[key] = item


def _find(concepts: list[Concept], name: str) -> int | None:
    """Index of the concept ``name`` refers to: same name, else a unique one with the same head noun."""
    key = name.casefold()
    for i, concept in enumerate(concepts):
        if concept.key == key:
            return i
    head = key.split()[-1]
    hits = [i for i, c in enumerate(concepts) if c.key.split()[-1] == head]
    if len(hits) == 1 and (len(key.split()) == 1 or len(concepts[hits[0]].key.split()) == 1):
        return hits[0]
    return None


def _values(item: Said, alternatives: list[str], excluded: list[str]) -> dict[str, list[str]]:
    """A modify concept's alternatives and exclusions after ``item``: a value named again as an alternative is
    allowed again, an excluded one is no alternative; other operations have neither."""
    if item.operation is not Operation.MODIFY:
        return {"alternatives": [], "excluded": []}
    allowed = {a.casefold() for a in item.alternatives}
    never = [v for v in excluded if v.casefold() not in allowed] + item.excluded
    banned = {v.casefold() for v in never}
    return {"alternatives": [a for a in item.alternatives or alternatives if a.casefold() not in banned],
            "excluded": never}


def merge(
    current: IntentSpec | None, said: list[Said], triggers: list[str], domain: str, additive_triggers: bool
) -> IntentSpec:
    concepts = [c.model_copy(deep=True) for c in current.concepts] if current else []
    spec_domain = domain or (current.domain if current else "")
    for item in said:
        index = _find(concepts, item.name)
        if item.refs_only:
            if index is not None:
                old = concepts[index]
                concepts[index] = old.model_copy(update={"references": sorted(set(old.references) | set(item.references))})
            continue
        if item.operation is None:
            if index is not None:
                concepts.pop(index)
                continue
            # "forget the logo" about something new: don't learn it; "never mind the weather": it doesn't matter
            if any(w in lx.ARTEFACT_NOUNS for w in item.name.split()):
                item.operation = Operation.DELETE
            else:
                item.operation, item.ignore = Operation.MODIFY, True
        if index is None:
            concepts.append(
                Concept(
                    name=item.name, granularity=granularity_of(item.name, spec_domain), operation=item.operation,
                    references=item.references, value=item.value, dont_care=bool(item.ignore),
                    **_values(item, [], []),
                )
            )
            continue
        old = concepts[index]
        update: dict[str, object] = {"operation": item.operation, "dont_care": bool(item.ignore)}
        if item.ignore or old.operation is not item.operation:
            update["loss_weight"], update["preserve"] = None, None
        if item.references:
            update["references"] = sorted(set(old.references) | set(item.references))
        if item.value:
            update["value"] = item.value
        update.update(_values(item, old.alternatives, old.excluded))
        concepts[index] = old.model_copy(update=update)
    words = list(current.trigger_words) if current else []
    if triggers:
        words = words + [t for t in triggers if t not in words] if additive_triggers else triggers
    return IntentSpec(
        trigger_words=words,
        domain=domain or (current.domain if current else ""),
        concepts=[Concept.model_validate(c.model_dump()) for c in concepts],
        version=current.version if current else 1,
    )
