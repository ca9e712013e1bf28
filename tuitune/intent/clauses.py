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
_CHANGE_OF_MIND = {"on", "second", "thought", "thoughts", "i", "have", "changed", "my", "mind", "after", "all",
                   "hmm", "ok", "okay", "well"}
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
    condition: bool = False  # "if there's a watermark": names what the next clause is about, asks nothing
    header: bool = False  # "remove:" before a list: its cue carries over to the items, not back


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
    universal: bool = False  # "everything else", "the rest": about no one concept
    postfix: bool = False  # the cue came after the noun ("the logo should be removed")
    noun_start: int = -1  # word index where the noun phrase began
    excluded: list[str] = field(default_factory=list)  # values it must never take ("should never be pink")
    modal: str | None = None  # "permit" (can, may) or "oblige" (should, must): how stated values read
    complement: list[str] = field(default_factory=list)  # values right after the noun: "keep the hair short"
    owner: list[str] = field(default_factory=list)  # "for the bag" after a bare attribute: whose it is
    sameness: bool = False  # the keep-cue is about staying the same ("stay the same"), not about staying
    causative: bool = False  # "make / turn / dye X <value>": X is given a new value
    any_value: bool = False  # "any background", "whatever colour": it may take any value
    possession: bool = False  # "she should have red hair": a verb of having
    elliptic: bool = False  # only a noun, an auxiliary and maybe a negation: "the buttons can't"


def normalise(text: str) -> str:
    text = text.translate(_QUOTES).lower()
    for short, long in lx.CONTRACTIONS.items():
        text = re.sub(rf"\b{re.escape(short)}\b", long, text)
    text = re.sub(r"\bat all\b", " ", text)
    text = re.sub(r"\b(\w[\w-]*)-free\b", r"without \1", text)  # "watermark-free"
    text = re.sub(r"\bwanna\b", "want to", text)
    text = re.sub(r"\b(everything|anything|all|nothing)\s+but\b", r"\1 except", text)  # "everything but the hair"
    # One spelling, so "hair color" and "hair colour" are the same concept in any later message.
    text = re.sub(r"\bcolor(s|ed|ing|ful)?\b", r"colour\1", text)
    text = re.sub(r"\bgray\b", "grey", text)
    # "any colour but yellow": "but" before a value after "any <kind>" is "except", not a new clause.
    return _ANY_BUT.sub(r"\1 except", text)


_ANY_BUT = re.compile(
    r"\b((?:any|every|all|whatever)\s+(?:" + "|".join(sorted(lx.ATTRIBUTE_NOUNS)) + r")s?)\s+but\b(?=\s+(?:"
    + "|".join(sorted(map(re.escape, lx.VALUE_CATEGORY))) + r")\b)"
)


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
        sentence = sentence.replace(" without ", " , without ")  # "keep the sleeves without the buttons"
        for phrase in lx.EXCEPT_WORDS:
            sentence = re.sub(rf"\b{phrase}\b", " , \u00a7x\u00a7 ", sentence)
        current: list[str] = []
        parts: list[list[str]] = []
        headers: set[int] = set()
        for word in _WORD.findall(sentence):
            if word in {",", ":"} or word in lx.SPLIT_WORDS:
                if word == ":":
                    headers.add(len(parts))
                parts.append(current)
                current = []
            else:
                current.append(word)
        parts.append(current)
        pending_correction = False
        for part_index, words in enumerate(parts):
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
                if not set(words) - _CHANGE_OF_MIND:  # "on second thought, ..." marks what follows
                    pending_correction = True
                    continue
            additive = bool(set(words) & lx.ADDITIVE) or "as well" in " ".join(words)
            opener = next((c.split() for c in lx.CONDITION_WORDS if words[: len(c.split())] == c.split()), [])
            condition = bool(opener) and len(words) > len(opener)
            if condition:
                words = words[len(opener):]
            clauses.append(Clause(words, refs, s_index, correction, additive, excepted, condition,
                                  part_index in headers))
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
    # "the mascot's outfit" is the subject's outfit: the possessive subject adds nothing to the name.
    words = [w for w in clause.words if not (w.endswith("'s") and w[:-2] in lx.SUBJECT_NOUNS)]
    words = [w.removesuffix("'s") for w in words]
    # "it is fine to change the hair": the instruction is what follows "to".
    if words[:2] == ["it", "is"] and "to" in words[2:5] and words[words.index("to", 2) + 1:]:
        words = words[words.index("to", 2) + 1:]
    causative = len(words) > 2 and words[0] in lx.CAUSATIVE_VERBS and words[1] in lx.DETERMINERS | lx.PRONOUNS
    cues = [c for c in find_cues(words) if not _noun_use(words, *c)]
    # "avoid changing the eyes", "without removing the scar": the first verb negates the second.
    cues = [(a, b, Cue.NEGATE) if cue is Cue.DELETE and words[a] in lx.NEGATING_VERBS and nxt[0] == b
            and nxt[2] in {Cue.KEEP, Cue.MODIFY, Cue.DELETE} else (a, b, cue)
            for (a, b, cue), nxt in zip(cues, [*cues[1:], (-1, -1, None)], strict=False)]
    # "any logos" is a determiner, unlike "any colour"; alone it still means "whichever" ("any hat is fine").
    determiner_any = [c for c in cues if words[c[0]] == "any" and c[1] - c[0] == 1 and c[1] < len(words)
                      and words[c[1]] not in lx.ATTRIBUTE_NOUNS]
    cues = [c for c in cues if c not in determiner_any]
    main = next((c for c in cues if c[2] not in _WEAK | {Cue.NEGATE}), None)
    if main is None:
        main = next((c for c in cues if c[2] in _WEAK), None)
    negators = [c for c in cues if c[2] is Cue.NEGATE]
    if "neither" in words:  # "neither the logo nor the text": one negation, not two, over a list
        cues = [c for c in cues if words[c[0]] != "nor"]
        negators = [c for c in negators if words[c[0]] != "nor"]
    # Negators before the cue count, and "neither" / "nothing" anywhere ("I want neither the ...", "keep nothing").
    if main is not None:
        negated = sum(1 for c in negators if c[0] < main[0] or words[c[0]] in {"neither", "nothing"}) % 2 == 1
    else:
        negated = len(negators) % 2 == 1
    spans = {i for start, end, _ in cues for i in range(start, end)}
    if causative:
        spans.add(0)
    reading = Reading(cue=main[2] if main else None, negated=negated != clause.excepted, noun=[])
    if main is None and any(w in {"all", "every"} and nxt in lx.ATTRIBUTE_NOUNS
                            for w, nxt in zip(words, words[1:], strict=False)):
        reading.cue = Cue.MODIFY  # "all colours are fine": like "any colour"
    reading.causative = causative
    reading.sameness = any(c[2] is Cue.KEEP and set(words[c[0]:c[1]]) & lx.SAMENESS for c in cues)
    if main is not None and main[1] - main[0] == 1 and main[1] < len(words) and words[main[1]] in lx.ATTRIBUTE_NOUNS \
            and words[main[0]] in {"whatever", "whichever", "anything"}:
        reading.cue = Cue.MODIFY  # "whatever colour" is "any colour"
    reading.any_value = bool(determiner_any) or main is not None and words[main[0]] in {"any", "whatever", "whichever"}
    if main is None and determiner_any and not clause.condition:
        # "there should not be any timestamp": no such thing; "any hat is fine": whichever.
        reading.cue, reading.negated = (Cue.NO, False) if reading.negated else (Cue.MODIFY, reading.negated)
    if main is not None and main[2] is Cue.NO and main[1] < len(words) and words[main[1]] in lx.CUT_WORDS:
        reading.cue = None  # "no" that is not a determiner ("no, in the corner")
    _walk(words, spans, stop, reading)
    reading.postfix = main is not None and 0 <= reading.noun_start < main[0]
    # "the buttons can't", "nor the bell", "actually, don't": the verb is the one said before.
    reading.elliptic = main is None and not reading.alternatives and not reading.excluded and not reading.value \
        and all(w in lx.ELLIPSIS_WORDS | lx.DETERMINERS or w in reading.noun for w in words) \
        and (bool(negators) or bool(set(words) & lx.AUXILIARIES))
    return reading


def _noun_use(words: list[str], start: int, end: int, cue: Cue) -> bool:
    """A cue word used as a noun: "the scratches", "remove the drop shadow", "Scratches and dust ... go"."""
    if end - start != 1 or cue in {Cue.NEGATE, Cue.NO, Cue.WANT}:
        return False
    after = words[end] if end < len(words) else None
    if after is not None and after not in lx.CUT_WORDS | lx.FILLER | lx.SPLIT_WORDS | {"or", "and"}:
        return False  # "a different hat": the cue word describes the noun after it
    if start > 0 and words[start - 1] in lx.ARTICLES:
        return True
    # A verb opens a clause in its plain form ("scratch that"); "Scratches on the photo" is a noun.
    return start == 0 and words[0].endswith("s") and len(words) > 1 and after not in {"to", None}


def _walk(words: list[str], spans: set[int], stop: set[str], reading: Reading) -> None:
    """Collect the noun phrase, then read the rest of the clause for attributes and values."""
    state = "np"  # np -> tail (after the noun phrase) ; "from" / "alt" while reading values
    alt: list[str] = []
    owner: list[str] = []
    seen_determiner = False
    for i, word in enumerate(words):
        if word in lx.POSSESSION and reading.noun and all(w in lx.SUBJECT_NOUNS for w in reading.noun):
            reading.noun, state = [], "np"  # "the woman should wear a hat": the hat is the concept
            reading.possession = True
            if i not in spans:
                continue
        if i in spans:
            if (reading.noun and state == "np") or state == "of":
                state = "tail"  # "the colour of the sofa can change to green": the owner ends at the cue
            if words[i] in lx.forms("become") or words[i] in {"any", "whichever"}:
                state = "alt"
            continue
        if word in stop or word.isdigit():
            continue
        following = words[i + 1] if i + 1 < len(words) else ""
        if word in lx.PERMIT_MODALS or word in lx.OBLIGE_MODALS and (following == "to" or word not in lx.HAVE):
            reading.modal = reading.modal or ("permit" if word in lx.PERMIT_MODALS else "oblige")
        elif word in {"is", "are"} and following == "to":
            reading.modal = reading.modal or "oblige"  # "the rug is to be red"
        if word in lx.POSSESSION and i not in spans:
            reading.possession = True
        if word in {"instead", "rather"} and following in {"of", "than"}:
            state = "from"  # "green instead of brown": brown is what it is now
            continue
        if state == "comp":
            if word in lx.VALUE_CATEGORY:
                reading.complement.append(word)
                continue
            state = "tail"
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
                seen_determiner = True
                continue
            if word in lx.PHRASE_ENDING_VERBS and reading.noun:
                state = "tail"  # "what the sky looks like"
                continue
            after_determiner = i > 0 and words[i - 1] in lx.DETERMINERS  # "the look" is a noun
            if not reading.noun and reading.pronoun and word in {"look", "looks", "seem", "seems"}:
                reading.statement, state = True, "alt"  # "it should look natural": a remark on the thing before
                continue
            if not reading.noun and not after_determiner and word in lx.PHRASE_ENDING_VERBS:
                continue  # "(my sks) should always wear the same hat"
            if not reading.noun and not seen_determiner and _verb_before_object(words, i, spans):
                continue  # "hold the outfit fixed": an unknown verb, not part of the name
            if word in lx.QUANTIFIERS and not reading.noun:
                reading.universal = True
            if word in lx.CUT_WORDS or word in lx.FILLER:
                if word in {"is", "are", "was"} and reading.noun:
                    reading.statement = True
                elif word in {"is", "are", "was"} and reading.pronoun:
                    reading.statement = True  # "it is ugly": a remark about the thing before
                    state = "alt"
                if reading.noun:
                    state = {"from": "from", "to": "alt", "into": "alt", "become": "alt", "for": "for",
                             "becomes": "alt", "like": "alt", "as": "alt"}.get(word, "tail")
                    if word in {"be", "is", "are"}:
                        state = "alt"
                    elif word == "to" and (i + 1 in spans or following in lx.PHRASE_ENDING_VERBS):
                        state = "tail"  # "the jacket to keep its zips": a verb follows, not a value
                continue
            if reading.noun and word in lx.VALUE_CATEGORY and reading.noun[-1] not in lx.VALUE_CATEGORY:
                reading.complement.append(word)  # "keep the hair short", "make the hair blonde"
                state = "comp"
                continue
            if not reading.noun:
                reading.noun_start = i
            reading.noun.append(word)
            continue
        if state == "for":
            if word in lx.CUT_WORDS:
                state = "tail"
            elif word not in lx.DETERMINERS and word not in lx.FILLER and not category:
                reading.owner.append(word)
            continue
        if word == "for" and state in {"tail", "alt"}:
            if alt:
                reading.alternatives.append(" ".join(alt))
                alt = []
            state = "for"  # "any material is fine for the bag"
        elif word in {"from"}:
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
            if word in lx.CAUSATIVE_FORMS:
                continue  # "never be painted pink": the value is pink
            alt.append(word)
        elif category and state == "tail":
            reading.alternatives.append(word)
    if alt:
        reading.alternatives.append(" ".join(alt))
    if owner:
        reading.noun = owner + reading.noun
    attribute = reading.noun if len(reading.noun) == 1 and reading.noun[0] in lx.ATTRIBUTE_NOUNS else \
        reading.attributes if not reading.noun and len(reading.attributes) == 1 else []
    if reading.owner and attribute:  # "any material is fine for the bag", "all colours for the balloon"
        kind = {"colours": "colour", "colors": "colour"}.get(attribute[0], attribute[0])
        owner = reading.owner[:-1] + [lx.singular(reading.owner[-1])]
        reading.noun, reading.owner, reading.attributes = owner + [kind], [], []
    if reading.statement and reading.alternatives and reading.cue is None:
        reading.value = reading.alternatives[0]
        reading.alternatives = []


def _verb_before_object(words: list[str], i: int, spans: set[int]) -> bool:
    """A word that opens the clause right before "the/her/..." + a noun is a verb, not a modifier."""
    if i + 1 >= len(words) or words[i + 1] not in lx.DETERMINERS:
        return False
    after = i + 2
    return after < len(words) and after not in spans and words[after] not in lx.CUT_WORDS | lx.FILLER
