"""The offline rule parser: clauses + cue lexicon + noun phrases -> an IntentSpec, no model needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tuitune.intent import lexicon as lx
from tuitune.intent.clauses import Clause, Reading, normalise, read_clause, split_clauses
from tuitune.intent.errors import IntentError, IntentQuestion
from tuitune.intent.lexicon import Cue
from tuitune.intent.parser import TokenCallback, check_references, check_text, next_version
from tuitune.intent.regions import Region
from tuitune.intent.spec import Concept, Granularity, IntentSpec, Operation
from tuitune.intent.triggers import find_triggers


@dataclass
class _Said:
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


def _operation(reading: Reading, inherited: Cue | None, granularity: Granularity) -> Cue | None:
    """The cue a clause carries after negation ("don't keep" -> delete, "not the logo" after keep -> delete)."""
    cue = reading.cue
    negated = reading.negated
    if cue is None:
        cue = inherited
        if cue is None and reading.alternatives and not reading.statement:
            cue = Cue.MODIFY
    if cue is None or not negated:
        return {Cue.WANT: Cue.KEEP, Cue.NO: Cue.DELETE}.get(cue, cue) if cue else None
    # "don't keep X": an attribute may vary, a picture-wide quality stops mattering, a thing goes.
    flipped = {
        Cue.KEEP: {Granularity.ATTRIBUTE: Cue.MODIFY, Granularity.IMAGERY: Cue.IGNORE}.get(granularity, Cue.DELETE),
        Cue.WANT: Cue.DELETE,
        Cue.MODIFY: Cue.KEEP,
        Cue.DELETE: Cue.KEEP,
        Cue.NO: Cue.KEEP,
        Cue.IGNORE: Cue.KEEP,
        Cue.FORGET: Cue.KEEP,
    }
    return flipped[cue]


class RuleParser:
    """Always available: understands common English phrasings of keep / change / remove / ignore."""

    name = "rules"

    def parse(
        self,
        text: str,
        current: IntentSpec | None,
        regions: Sequence[Region],
        on_token: TokenCallback | None = None,
    ) -> IntentSpec:
        text = check_text(text)
        triggers, domain, rest = find_triggers(text)
        said = self._read(normalise(rest), {t.lower() for t in triggers}, regions,
                          domain or (current.domain if current else ""))
        _check_contradictions(said)
        spec = _merge(current, said, triggers, domain, additive_triggers="also" in text.lower())
        if current is not None and spec.model_dump(exclude={"version"}) == current.model_dump(exclude={"version"}):
            if not said and not triggers and not domain:
                raise IntentError(
                    "I found nothing to keep, change or remove in that message; try e.g. "
                    "'keep the face, remove the watermark'."
                )
        elif current is None and not said and not triggers:
            raise IntentError(
                "I found nothing to keep, change or remove in that message; try e.g. "
                "'call it zxq, keep the face, remove the watermark'."
            )
        check_references(spec, regions, current)
        spec = next_version(spec, current)
        if on_token is not None:
            on_token(spec.to_json())
        return spec

    def _read(self, text: str, stop: set[str], regions: Sequence[Region], domain: str) -> list[_Said]:
        said: list[_Said] = []
        labels = {r.number: r.label for r in regions if r.label}
        inherited: Cue | None = None
        last_sentence = -1
        antecedent: tuple[list[str], str | None, list[int]] | None = None
        # Nouns said before their verb ("the linework and shading should be kept") wait for it.
        waiting: list[tuple[list[str], str | None, list[int], Clause, int]] = []
        for index, clause in enumerate(split_clauses(text)):
            if clause.sentence != last_sentence and not clause.additive:
                inherited = None
            if clause.sentence != last_sentence:
                waiting = []
            last_sentence = clause.sentence
            reading = read_clause(clause, stop)
            missing = [n for n in clause.refs if n not in {r.number for r in regions}]
            if missing:
                have = ", ".join(f"[{r.number}]" for r in regions) or "none"
                raise IntentError(
                    f"Region [{missing[0]}] does not exist; the regions are: {have}. "
                    "Add it with --ref IMAGE:x0,y0,x1,y1 or use an existing number."
                )
            noun, value = list(reading.noun), reading.value
            # "her red hair can change": the colour is what changes, and red is its value now.
            while len(noun) > 1 and noun[0] in lx.VALUE_CATEGORY and reading.cue in {Cue.MODIFY, None}:
                if reading.cue is None and inherited is not Cue.MODIFY and not reading.statement:
                    break
                value = value or noun[0]
                reading.attributes.append(lx.VALUE_CATEGORY[noun.pop(0)])
            # "keep the small red scarf": the thing is the scarf, "small red" is how it looks now.
            lead = 0
            while lead < len(noun) - 1 and noun[lead] in lx.VALUE_CATEGORY:
                lead += 1
            if lead:
                value, noun = value or " ".join(noun[:lead]), noun[lead:]
            refs = list(clause.refs)
            if not noun and clause.refs and all(n in labels for n in clause.refs):
                noun = labels[clause.refs[0]].split()
            if clause.condition:  # "if there's a watermark, ...": the next clause says what to do with it
                if noun:
                    antecedent = (noun, value, refs)
                continue
            if reading.cue is None and reading.pronoun and reading.statement and not noun:
                continue  # "it's ugly": a remark, no instruction
            if antecedent is not None and not reading.universal and not (clause.header and not reading.pronoun):
                base, base_value, base_refs = antecedent
                if not noun and (reading.pronoun or reading.cue or reading.attributes):
                    noun, value, refs = list(base), value or base_value, refs + base_refs
                elif len(noun) == 1 and noun[0] in lx.GENERIC_ATTRIBUTES and base[-1] not in lx.ATTRIBUTE_NOUNS:
                    noun = [w for w in base if w not in lx.VALUE_CATEGORY] + noun  # "its colour"
            if not noun and reading.attributes and antecedent is None:
                noun = [reading.attributes.pop(0)]
            if noun and all(w in lx.VALUE_CATEGORY for w in noun + reading.alternatives):
                if said and said[-1].operation is Operation.MODIFY and inherited is Cue.MODIFY:
                    said[-1].alternatives += noun + reading.alternatives
                continue  # a bare list of values continues the previous alternatives
            if not noun:
                if reading.cue is not None and not reading.negated:
                    inherited = reading.cue  # "remove everything except the face"
                if reading.cue is not None and clause.refs:
                    raise IntentError(
                        f"Say what region [{clause.refs[0]}] shows, e.g. 'keep the face [{clause.refs[0]}]'."
                    )
                continue
            attributes = [a for a in reading.attributes if a not in noun]
            if (not attributes and reading.alternatives and noun[-1] not in lx.ATTRIBUTE_NOUNS
                    and reading.cue in {Cue.MODIFY, None}):
                categories = {lx.VALUE_CATEGORY.get(a) for a in reading.alternatives}
                if len(categories) == 1 and None not in categories:
                    attributes = [categories.pop()]
            if attributes and noun[-1] not in lx.ATTRIBUTE_NOUNS:
                base = [w for w in noun if w not in lx.ATTRIBUTE_NOUNS]
                noun = base[:-1] + [_singular(base[-1])] + [_colour(attributes[0])] if base else [attributes[0]]
            name = " ".join(noun)
            granularity = granularity_of(name, domain)
            cue = _operation(reading, inherited, granularity)
            antecedent = (noun, value, refs)
            if domain == "style" and name in lx.STYLE_SUBJECTS and cue in {Cue.KEEP, Cue.WANT}:
                continue  # in a style LoRA "the look" is what the trigger word learns, not a concept
            if reading.cue is not None:
                inherited = reading.cue if not reading.negated else cue
            elif inherited is None and cue is Cue.MODIFY:
                inherited = cue
            if cue is None:
                if refs:  # "the face is [2] too": more regions for a concept already named
                    said.append(_Said(name, Operation.KEEP, False, sorted(set(refs)), None, [], index,
                                      clause.correction, refs_only=True))
                if not reading.statement:
                    waiting.append((noun, value, refs, clause, index))
                continue
            if reading.cue is not None and reading.postfix:
                for w_noun, w_value, w_refs, w_clause, w_index in waiting:
                    w_name = " ".join(w_noun)
                    w_reading = Reading(cue=reading.cue, negated=reading.negated, noun=w_noun)
                    w_cue = _operation(w_reading, None, granularity_of(w_name, domain))
                    if w_cue is not None:
                        said.append(_said(w_name, w_cue, w_clause, w_refs, w_index, w_value, []))
            waiting = []
            alternatives = [a for a in reading.alternatives if a != value and a not in lx.ATTRIBUTE_NOUNS]
            for words in [*reading.others, noun]:
                said.append(_said(" ".join(words), cue, clause, refs, index, value if words is noun else None,
                                  alternatives if words is noun else []))
        return said


def _said(name: str, cue: Cue, clause: Clause, refs: list[int], index: int, value: str | None,
          alternatives: list[str]) -> _Said:
    if cue is Cue.IGNORE and any(w in lx.ARTEFACT_NOUNS for w in name.split()):
        cue = Cue.DELETE  # ignoring a watermark means not learning it: strip it
    operation = {Cue.KEEP: Operation.KEEP, Cue.MODIFY: Operation.MODIFY, Cue.DELETE: Operation.DELETE,
                 Cue.IGNORE: Operation.MODIFY, Cue.FORGET: None}[cue]
    return _Said(name, operation, cue is Cue.IGNORE, sorted(set(refs)), value, alternatives, index,
                 clause.correction)


def _singular(word: str) -> str:
    """"eyes" -> "eye" when a noun becomes a modifier ("eye colour")."""
    if word in {"glasses", "trousers", "pants", "jeans", "shorts", "clothes", "sunglasses", "goggles"}:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _colour(word: str) -> str:
    return "colour" if word in {"color", "colours", "colors"} else word


def _check_contradictions(said: list[_Said]) -> None:
    """The same concept asked to be kept and deleted (or changed) without a correction word: ask."""
    first: dict[str, _Said] = {}
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


def _merge(
    current: IntentSpec | None, said: list[_Said], triggers: list[str], domain: str, additive_triggers: bool
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
            item.operation = Operation.DELETE  # "forget the logo" about something new: don't learn it
        if index is None:
            concepts.append(
                Concept(
                    name=item.name, granularity=granularity_of(item.name, spec_domain), operation=item.operation,
                    references=item.references, alternatives=item.alternatives if item.operation is
                    Operation.MODIFY else [], value=item.value, dont_care=bool(item.ignore),
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
        if item.operation is Operation.MODIFY:
            update["alternatives"] = item.alternatives or old.alternatives
        else:
            update["alternatives"] = []
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
