"""The offline rule parser: clauses + cue lexicon + noun phrases -> an IntentSpec, no model needed."""

from __future__ import annotations

from collections.abc import Sequence

from tuitune.intent import lexicon as lx
from tuitune.intent.clauses import Clause, Reading, normalise, read_clause, split_clauses
from tuitune.intent.errors import IntentError
from tuitune.intent.lexicon import Cue, singular
from tuitune.intent.parser import TokenCallback, check_references, check_text, next_version
from tuitune.intent.regions import Region
from tuitune.intent.said import Said, check_contradictions, colour_word, granularity_of, merge
from tuitune.intent.spec import Granularity, IntentSpec, Operation
from tuitune.intent.triggers import find_triggers
from tuitune.intent.values import exclude, exclusion, named_for, settle

__all__ = ["RuleParser", "granularity_of"]


def _operation(reading: Reading, inherited: Cue | None, granularity: Granularity) -> Cue | None:
    """The cue a clause carries after negation ("don't keep" -> delete, "not the logo" after keep -> delete)."""
    cue = reading.cue
    negated = reading.negated
    if cue is None:
        # A clause with its own modal says its own thing ("keep the label, the cap can be gold or silver").
        cue = None if reading.modal and (reading.alternatives or reading.excluded or reading.value) else inherited
        if cue is None and reading.alternatives and not reading.statement:
            cue = Cue.MODIFY
    if cue is None or not negated:
        return {Cue.WANT: Cue.KEEP, Cue.NO: Cue.DELETE}.get(cue, cue) if cue else None
    if cue is Cue.KEEP and reading.sameness:
        return Cue.MODIFY  # "the shoes don't have to stay the same": they may vary
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
                          domain or (current.domain if current else ""), current)
        check_contradictions(said)
        spec = merge(current, said, triggers, domain, additive_triggers="also" in text.lower())
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

    def _read(self, text: str, stop: set[str], regions: Sequence[Region], domain: str,
              current: IntentSpec | None = None) -> list[Said]:
        said: list[Said] = []
        labels = {r.number: r.label for r in regions if r.label}
        inherited: Cue | None = None
        last_sentence = -1
        sentence_start = 0  # where this sentence's instructions begin in ``said``
        antecedent: tuple[list[str], str | None, list[int]] | None = None
        if current is not None and current.concepts:  # "keep it red" in a follow-up: the last concept named
            antecedent = (current.concepts[-1].name.split(), None, [])
        from_current = antecedent is not None
        pending: tuple[list[str], list[str]] | None = None  # "other than purple, the scarf ...": for what follows
        excluding = False  # the clause before ruled values out: a bare list of values goes on doing so
        last_verb: Cue | None = None  # the cue an elliptic clause ("the buttons can't") stands for
        negated_scope = False  # the cue before was said of nothing ("change nothing"): its exceptions get it
        # Nouns said before their verb ("the linework and shading should be kept") wait for it.
        waiting: list[tuple[list[str], str | None, list[int], Clause, int]] = []
        clauses = split_clauses(text)
        readings = [read_clause(clause, stop) for clause in clauses]
        for reading in readings:
            settle(reading)
        for index, (clause, reading) in enumerate(zip(clauses, readings, strict=True)):
            if clause.sentence != last_sentence and not clause.additive:
                inherited = None
            if clause.sentence != last_sentence:
                waiting, sentence_start, pending, negated_scope = [], len(said), None, False
            if negated_scope and reading.cue is None:  # "change nothing but the hair": the hair changes
                reading.negated = not reading.negated
            last_sentence = clause.sentence
            missing = [n for n in clause.refs if n not in {r.number for r in regions}]
            if missing:
                have = ", ".join(f"[{r.number}]" for r in regions) or "none"
                raise IntentError(
                    f"Region [{missing[0]}] does not exist; the regions are: {have}. "
                    "Add it with --ref IMAGE:x0,y0,x1,y1 or use an existing number."
                )
            excluded = _exclusion(clause, reading, said[sentence_start:], readings, domain)
            if excluded is None and excluding and reading.cue is None and reading.noun \
                    and all(w in lx.VALUE_CATEGORY for w in reading.noun + reading.alternatives):
                excluded = [" ".join(reading.noun), *reading.alternatives]  # "apart from red and pink"
            excluding = excluded is not None
            if excluded is not None:
                later = any(c.sentence == clause.sentence for c in clauses[index + 1:])
                target = next((s for s in reversed(said) if s.operation is Operation.MODIFY), None)
                if later and len(said) == sentence_start and pending is None:
                    pending = (excluded, reading.owner)
                elif pending is not None and len(said) == sentence_start:
                    pending[0].extend(excluded)
                elif target is not None:
                    exclude(target, excluded, reading.owner)
                else:
                    named = " ".join(antecedent[0]) if antecedent and not from_current else \
                        said[-1].name if said else " ".join(antecedent[0]) if antecedent else None
                    found = _new_target(current, named, excluded, index, clause, reading.owner)
                    said += [found] if found else []
                continue
            if (not reading.noun and not reading.attributes and not reading.pronoun and index + 1 < len(clauses)
                    and said and said[-1].operation is Operation.MODIFY and not said[-1].ignore
                    and clauses[index + 1].sentence == clause.sentence
                    and _exclusion(clauses[index + 1], readings[index + 1], said[sentence_start:], readings,
                                   domain)):
                continue  # "..., anything but black": "anything" only opens the exclusion
            if reading.elliptic and last_verb is not None:
                reading.cue = last_verb  # "the sleeves can change. The buttons can't."
            if reading.cue is not None:
                last_verb = reading.cue
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
                    antecedent, from_current = (noun, value, refs), False
                continue
            if reading.cue is None and reading.pronoun and reading.statement and not noun:
                continue  # "it's ugly": a remark, no instruction
            if antecedent is not None and not reading.universal and not (clause.header and not reading.pronoun) \
                    and (reading.pronoun or not from_current):
                base, base_value, base_refs = antecedent
                if not noun and (reading.pronoun or reading.cue or reading.attributes):
                    noun, value, refs = list(base), value or base_value, refs + base_refs
                elif len(noun) == 1 and noun[0] in lx.GENERIC_ATTRIBUTES and base[-1] not in lx.ATTRIBUTE_NOUNS:
                    noun = [w for w in base if w not in lx.VALUE_CATEGORY] + noun  # "its colour"
            if not noun and reading.attributes and (antecedent is None or from_current):
                noun = [reading.attributes.pop(0)]
            if noun and all(w in lx.VALUE_CATEGORY for w in noun + reading.alternatives):
                values = [" ".join(noun), *reading.alternatives]
                if said and said[-1].operation is Operation.MODIFY and inherited is Cue.MODIFY:
                    said[-1].alternatives += values  # a bare list of values continues the previous alternatives
                elif index and clauses[index - 1].header and antecedent is not None and not from_current:
                    # "Hair: blonde or brunette": the values the thing named in the header may take
                    said.append(_said(named_for(" ".join(antecedent[0]), values), Cue.MODIFY, clause, refs, index,
                                      None, values))
                    inherited = Cue.MODIFY
                continue
            if not noun:
                if reading.cue is not None:
                    inherited = reading.cue  # "remove everything except the face"
                    # "change nothing but the hair colour": the exception is changed
                    negated_scope = reading.negated
                if reading.cue is not None and clause.refs:
                    raise IntentError(
                        f"Say what region [{clause.refs[0]}] shows, e.g. 'keep the face [{clause.refs[0]}]'."
                    )
                continue
            attributes = [a for a in reading.attributes if a not in noun]
            stated = reading.alternatives + reading.excluded
            if not attributes and stated and noun[-1] not in lx.ATTRIBUTE_NOUNS and reading.cue in {Cue.MODIFY, None}:
                categories = {lx.VALUE_CATEGORY.get(a.split()[-1]) for a in stated}
                if len(categories) == 1 and None not in categories:
                    attributes = [categories.pop()]
            if attributes and noun[-1] not in lx.ATTRIBUTE_NOUNS:
                base = [w for w in noun if w not in lx.ATTRIBUTE_NOUNS]
                noun = base[:-1] + [singular(base[-1])] + [colour_word(attributes[0])] if base else [attributes[0]]
            name = " ".join(noun)
            granularity = granularity_of(name, domain)
            cue = _operation(reading, inherited, granularity)
            antecedent, from_current = (noun, value, refs), False
            if domain == "style" and name in lx.STYLE_SUBJECTS and cue in {Cue.KEEP, Cue.WANT}:
                continue  # in a style LoRA "the look" is what the trigger word learns, not a concept
            if reading.cue is not None:
                inherited = reading.cue if not reading.negated else cue
            elif clause.excepted and cue is not None:
                inherited = cue  # "everything can change except the face and the hands": both are kept
            elif inherited is None and cue is Cue.MODIFY:
                inherited = cue
            if cue is None:
                if refs:  # "the face is [2] too": more regions for a concept already named
                    said.append(Said(name, Operation.KEEP, False, sorted(set(refs)), None, [], index,
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
                                  alternatives if words is noun else [], reading.excluded if words is noun else []))
            if pending is not None and said[-1].operation is Operation.MODIFY:
                exclude(said[-1], *pending)
                pending = None
        return said


def _exclusion(clause: Clause, reading: Reading, sentence: list[Said], readings: list[Reading],
               domain: str) -> list[str] | None:
    """What an exclusion clause rules out: values ("but not green"), or after a modify attribute or an "any"
    any phrase ("any hairstyle except a ponytail", "any background except a beach")."""
    values = exclusion(clause, reading)
    if values is None and clause.excepted and reading.cue is None and reading.noun and sentence:
        last = sentence[-1]
        if last.operation is Operation.MODIFY and not last.ignore and (
                readings[last.clause_index].any_value
                or granularity_of(last.name, domain) is Granularity.ATTRIBUTE):
            values = [" ".join(reading.noun)]
    return values


def _said(name: str, cue: Cue, clause: Clause, refs: list[int], index: int, value: str | None,
          alternatives: list[str], excluded: list[str] | None = None) -> Said:
    if cue is Cue.IGNORE and any(w in lx.ARTEFACT_NOUNS for w in name.split()):
        cue = Cue.DELETE  # ignoring a watermark means not learning it: strip it
    operation = {Cue.KEEP: Operation.KEEP, Cue.MODIFY: Operation.MODIFY, Cue.DELETE: Operation.DELETE,
                 Cue.IGNORE: Operation.MODIFY, Cue.FORGET: None}[cue]
    return Said(name, operation, cue is Cue.IGNORE, sorted(set(refs)), value, alternatives, index,
                clause.correction, excluded=list(excluded or []))


def _new_target(current: IntentSpec | None, named: str | None, values: list[str], index: int, clause: Clause,
                owner: list[str]) -> Said | None:
    """The concept an exclusion is about when the message changes none before it, with the values ruled out:
    its owner ("anything but white for the sneakers"), else the spec's modify concept of that kind of value
    ("... colour" for colours), else its last modify concept, else the colour (or other kind of value) of
    the thing named last ("keep the hat, but never yellow")."""
    modify = [c for c in current.concepts if c.operation is Operation.MODIFY] if current else []
    kinds = {lx.VALUE_CATEGORY.get(v.split()[-1]) for v in values}
    fitting = [c for c in modify if c.name.split()[-1] in kinds]
    name = " ".join(owner) if owner else (fitting or modify)[-1].name if modify else named
    if name is None:
        return None
    target = Said(name, Operation.MODIFY, False, [], None, [], index, clause.correction)
    exclude(target, values, owner)
    if not owner and not modify and target.name == name:
        return None  # "keep the hair colour, never red": not a kind of value of something else
    return target
