"""Reads a message into clauses, and each clause into a cue, a noun phrase, values and region numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tuitune.intent import lexicon as lx
from tuitune.intent.lexicon import Cue

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})
_REF = re.compile(
    r"\[(\d+(?:\s*[,&]\s*\d+)*)\]|\((\d+)\)|#(\d+)\b|\b(?:region|box|ref|reference|area|crop)\s*#?(\d+)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<!\d)[.!?;]+(?!\d)|\n+|\s-\s|\s[\u2013\u2014]\s")
_WORD = re.compile(r"\u00a7(?:\d+|x)\u00a7|[a-z0-9][a-z0-9'\-]*|[,:]")


@dataclass
class Clause:
    """One stretch of a message that says one thing about one concept (or continues a list)."""

    words: list[str]
    refs: list[int]
    sentence: int
    correction: bool = False
    additive: bool = False
    excepted: bool = False  # follows "except": the opposite of what the clause before asked


@dataclass
class Reading:
    """What a clause says: a cue (possibly negated) about a noun phrase, with values and references."""

    cue: Cue | None
    negated: bool
    noun: list[str]  # the noun phrase, e.g. ["black", "jacket"]
    attributes: list[str] = field(default_factory=list)  # attribute nouns said around it: ["colour"]
    pronoun: bool = False  # the clause said "it"/"its"/"them"
    value: str | None = None  # current value ("from red", "her red hair")
    alternatives: list[str] = field(default_factory=list)
    statement: bool = False  # "the hair is red": a fact, not an instruction
    others: list[list[str]] = field(default_factory=list)  # earlier nouns joined by "or": same instruction


def normalise(text: str) -> str:
    text = text.translate(_QUOTES).lower()
    for short, long in lx.CONTRACTIONS.items():
        text = re.sub(rf"\b{re.escape(short)}\b", long, text)
    text = re.sub(r"\bat all\b", " ", text)
    text = re.sub(r"\b(\w[\w-]*)-free\b", r"without \1", text)  # "watermark-free"
    text = re.sub(r"\bwanna\b", "want to", text)
    return text


def split_clauses(text: str) -> list[Clause]:
    """Sentences, then commas and conjunctions; region numbers are lifted out of the words."""
    clauses: list[Clause] = []
    for s_index, sentence in enumerate(_SENTENCE.split(text)):
        refs_by_marker: dict[str, list[int]] = {}

        def lift(match: re.Match[str], refs_by_marker: dict[str, list[int]] = refs_by_marker) -> str:
            numbers = next(g for g in match.groups() if g)
            marker = f"\u00a7{len(refs_by_marker)}\u00a7"
            refs_by_marker[marker] = [int(n) for n in re.split(r"\s*[,&]\s*", numbers)]
            return f" {marker} "

        sentence = _REF.sub(lift, sentence.strip().lstrip("-*\u2022 "))
        for phrase in lx.SPLIT_PHRASES:
            sentence = sentence.replace(f" {phrase} ", " , ")
        for phrase in lx.EXCEPT_WORDS:
            sentence = re.sub(rf"\b{phrase}\b", " , \u00a7x\u00a7 ", sentence)
        current: list[str] = []
        parts: list[list[str]] = []
        for word in _WORD.findall(sentence):
            if word in {",", ":"} or word in lx.SPLIT_WORDS:
                parts.append(current)
                current = []
            else:
                current.append(word)
        parts.append(current)
        pending_correction = False
        for words in parts:
            excepted = "\u00a7x\u00a7" in words
            words = [w for w in words if w != "\u00a7x\u00a7"]
            refs = [n for w in words if w in refs_by_marker for n in refs_by_marker[w]]
            words = [w for w in words if w not in refs_by_marker and w not in lx.INTENSIFIERS]
            if not words and not refs:
                continue
            lead = set(words[:3])
            correction = pending_correction or bool(lead & (lx.CORRECTIONS - {"no"})) or words[:1] == ["no"] and len(words) == 1
            if words in (["no"], ["wait"], ["actually"], ["no", "wait"], ["sorry"]):
                pending_correction = True  # "no, remove it": the interjection marks what follows
                continue
            pending_correction = False
            if "second" in words and "thought" in words or "changed" in words and "mind" in words:
                correction = True
            additive = bool(set(words) & lx.ADDITIVE) or "as well" in " ".join(words)
            clauses.append(Clause(words, refs, s_index, correction, additive, excepted))
    return clauses


def find_cues(words: list[str]) -> list[tuple[int, int, Cue]]:
    """Non-overlapping cue phrases, longest first at each position, left to right."""
    found: list[tuple[int, int, Cue]] = []
    i = 0
    while i < len(words):
        for phrase, cue in lx.CUE_TABLE:
            n = len(phrase)
            if i + n <= len(words) and all(words[i + k] in phrase[k] for k in range(n)):
                found.append((i, i + n, cue))
                i += n
                break
        else:
            i += 1
    return found


_WEAK = {Cue.WANT, Cue.NO}


def read_clause(clause: Clause, stop: set[str]) -> Reading:
    """The cue, negation, noun phrase, attributes and values of one clause; ``stop`` holds trigger words."""
    words = [w.removesuffix("'s") for w in clause.words]
    cues = find_cues(words)
    main = next((c for c in cues if c[2] not in _WEAK | {Cue.NEGATE}), None)
    if main is None:
        main = next((c for c in cues if c[2] in _WEAK), None)
    if main is not None and words[main[0]] == "any" and main[1] - main[0] == 1:
        after = words[main[1]] if main[1] < len(words) else ""
        if after and after not in lx.ATTRIBUTE_NOUNS:
            cues.remove(main)  # "any logos": a determiner, not "any colour"
            main = next((c for c in cues if c[2] not in _WEAK | {Cue.NEGATE}), None) or next(
                (c for c in cues if c[2] in _WEAK), None
            )
    negators = [c for c in cues if c[2] is Cue.NEGATE]
    if main is not None:
        negated = sum(1 for c in negators if c[0] < main[0]) % 2 == 1
    else:
        negated = len(negators) % 2 == 1
    spans = {i for start, end, _ in cues for i in range(start, end)}
    reading = Reading(cue=main[2] if main else None, negated=negated != clause.excepted, noun=[])
    if main is not None and main[2] is Cue.NO and main[1] < len(words) and words[main[1]] in lx.CUT_WORDS:
        reading.cue = None  # "no" that is not a determiner ("no, in the corner")
    _walk(words, spans, stop, reading)
    return reading


def _walk(words: list[str], spans: set[int], stop: set[str], reading: Reading) -> None:
    """Collect the noun phrase, then read the rest of the clause for attributes and values."""
    state = "np"  # np -> tail (after the noun phrase) ; "from" / "alt" while reading values
    alt: list[str] = []
    owner: list[str] = []
    for i, word in enumerate(words):
        if i in spans:
            if reading.noun and state == "np":
                state = "tail"
            if words[i] in lx.forms("become") or words[i] in {"any", "whichever"}:
                state = "alt"
            continue
        if word in stop or word.isdigit():
            continue
        if word in lx.PRONOUNS or word in {"its", "their", "them"}:
            reading.pronoun = reading.pronoun or not reading.noun or word in {"it", "them", "its"}
            if word in lx.DETERMINERS and word not in {"its", "their"} and i + 1 < len(words):
                if words[i + 1] not in lx.CUT_WORDS and words[i + 1] not in lx.FILLER:
                    reading.pronoun = False  # "this jacket": a determiner, not a pronoun
            continue
        if word in lx.ATTRIBUTE_NOUNS and not (word == "style" and state == "np" and not reading.noun):
            if state == "np" and reading.noun and reading.noun[-1] in lx.IMAGERY_STYLE_PREFIXES | {"colour"}:
                reading.noun.append(word)  # "art style", "colour palette"
            elif state == "np" and not reading.noun and i + 1 < len(words) and words[i + 1] == "of":
                state = "of"  # "the colour of her hair"
                reading.attributes.append(word)
            elif state == "np":
                reading.noun.append(word)
                state = "tail" if len(reading.noun) > 1 else "np"
            else:
                reading.attributes.append(word)
            continue
        category = lx.VALUE_CATEGORY.get(word)
        if state == "of":
            if word in lx.DETERMINERS or word == "of" or word in lx.FILLER:
                continue
            if word in lx.CUT_WORDS:
                state = "tail"
                continue
            owner.append(word)
            continue
        if word in {"or", "nor"} and reading.noun and state in {"np", "tail"} and not reading.alternatives:
            following = next((w for w in words[i + 1 :] if w not in lx.DETERMINERS), "")
            if following and following not in lx.VALUE_CATEGORY and following not in lx.FILLER:
                reading.others.append(reading.noun)  # "the background or the lighting"
                reading.noun = []
                state = "np"
                continue
        if state == "np":
            if word in lx.DETERMINERS:
                continue
            if word in lx.CUT_WORDS or word in lx.FILLER:
                if word in {"is", "are", "was"} and reading.noun:
                    reading.statement = True
                if reading.noun:
                    state = {"from": "from", "to": "alt", "into": "alt", "become": "alt",
                             "becomes": "alt", "like": "alt", "as": "alt"}.get(word, "tail")
                    if word in {"be", "is", "are"}:
                        state = "alt"
                continue
            reading.noun.append(word)
            continue
        if word in {"from"}:
            state = "from"
        elif word in {"to", "into", "like", "become", "becomes", "be", "is", "are", "either"}:
            if word in {"is", "are"} and reading.cue is None:
                reading.statement = True
            state = "alt"
        elif state == "from" and category:
            reading.value = word
        elif state == "alt":
            if word in {"or", "and", "/"} or word in lx.DETERMINERS or word in lx.FILLER:
                if alt:
                    reading.alternatives.append(" ".join(alt))
                    alt = []
                continue
            if word in lx.CUT_WORDS:
                state = "tail"
                continue
            alt.append(word)
        elif category and state == "tail":
            reading.alternatives.append(word)
    if alt:
        reading.alternatives.append(" ".join(alt))
    if owner:
        reading.noun = owner + reading.noun
    if reading.statement and reading.alternatives and reading.cue is None:
        reading.value = reading.alternatives[0]
        reading.alternatives = []
