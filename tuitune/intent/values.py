"""The values a clause states: the one a concept has or must have, the ones it may take, the ones it never may."""

from __future__ import annotations

from tuitune.intent import lexicon as lx
from tuitune.intent.clauses import Clause, Reading
from tuitune.intent.lexicon import Cue, singular
from tuitune.intent.said import Said
from tuitune.intent.spec import Operation


def _is_value(phrase: str) -> bool:
    return bool(phrase) and all(w in lx.VALUE_CATEGORY for w in phrase.split())


def settle(reading: Reading) -> None:
    """Turn the values a clause states into its value, alternatives or exclusions, and the cue they imply.

    - a negated value is excluded and the rest may vary: "her hair should never be pink", "not to red"
    - a kept value that need not stay is the current one: "the background doesn't need to stay white"
    - one value it must have is kept: "should be plain white", "keep it red", "her eyes stay blue"
    - a value it is given is a modification: "make the hair blonde", "recolour the bag navy"
    Values it can take ("can be blue or green") stay alternatives of a modify concept.
    """
    if reading.pronoun and reading.noun and all(w in lx.VALUE_CATEGORY for w in reading.noun):
        reading.complement, reading.noun = reading.noun + reading.complement, []  # "keep it red"
    complement = " ".join(reading.complement)
    reading.complement = []
    stated = [*reading.alternatives, *([complement] if complement else [])]
    if not stated:
        if reading.cue is None and reading.modal == "oblige" and (
                reading.statement and reading.value and reading.noun or reading.possession and reading.noun):
            reading.cue = Cue.KEEP  # "the sky is always blue", "she should have red hair": a rule, not a remark
        return
    cue = reading.cue
    if reading.negated and cue in {None, Cue.MODIFY, Cue.WANT}:
        reading.excluded, reading.alternatives = stated, []
        reading.cue, reading.negated = Cue.MODIFY, False
    elif reading.negated and cue is Cue.KEEP:
        reading.value, reading.alternatives = reading.value or stated[0], []
        reading.cue, reading.negated = Cue.MODIFY, False
    elif reading.negated:
        return
    elif cue is None and reading.causative or cue is Cue.MODIFY:
        reading.cue, reading.alternatives = Cue.MODIFY, stated
    elif cue in {Cue.KEEP, Cue.WANT} or cue is None and (reading.modal == "oblige" or complement):
        if len(stated) == 1:
            reading.value, reading.alternatives = stated[0], []
            if cue is None and reading.modal == "oblige" and not reading.statement:
                reading.cue = Cue.KEEP
        else:
            reading.alternatives = stated


def exclusion(clause: Clause, reading: Reading) -> list[str] | None:
    """The values a clause of values only rules out ("but not green", "except leather", "never red",
    "no blue", "other than red or green"), or None when it is not one."""
    phrases = [" ".join(reading.noun), *reading.alternatives, *reading.excluded] if reading.noun else \
        [*reading.alternatives, *reading.excluded]
    phrases = [p for p in phrases if p]
    if not phrases or not all(_is_value(p) for p in phrases) or reading.value:
        return None
    if clause.excepted or reading.negated or reading.cue is Cue.NO or reading.excluded:
        return phrases
    return None


def exclude(target: Said, values: list[str], owner: list[str]) -> None:
    """Rule ``values`` out for ``target``, which may vary otherwise; a thing ruled out a colour is named for
    its colour ("the hat can be anything but black" -> hat colour), a bare attribute for its owner."""
    target.excluded += [v for v in values if v not in target.excluded]
    target.alternatives = [a for a in target.alternatives if a not in values]
    target.operation, target.ignore = Operation.MODIFY, False
    words = target.name.split()
    if owner and len(words) == 1 and words[0] in lx.ATTRIBUTE_NOUNS:
        target.name = " ".join(owner[:-1] + [singular(owner[-1])] + words)
    else:
        target.name = named_for(target.name, values)


def named_for(name: str, values: list[str]) -> str:
    """The name of what takes ``values``: a thing's attribute when they are of one kind ("hat", [black] ->
    "hat colour"), else the name as it is."""
    words = name.split()
    if words[-1] in lx.ATTRIBUTE_NOUNS:
        return name
    categories = {lx.VALUE_CATEGORY.get(v.split()[-1]) for v in values}
    if len(categories) == 1 and None not in categories:
        return " ".join(words[:-1] + [singular(words[-1]), categories.pop()])
    return name
