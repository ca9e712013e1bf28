"""Finds the trigger words and the domain of a message, and takes the sentences that state them out."""

from __future__ import annotations

import re

from tuitune.intent import lexicon as lx

_TOKEN = r"['\"]?([A-Za-z0-9][\w\-]*?)['\"]?(?='s\b|[\s,.;:!?)]|$)"
_TRIGGER_PATTERNS = [
    re.compile(r"\b(?:call|name|tag|label)\s+(?:it|him|her|them|this|the\s+\w+)\s+(?:as\s+)?" + _TOKEN, re.I),
    re.compile(r"\b(?:called|named|dubbed|nicknamed)\s+" + _TOKEN, re.I),
    re.compile(r"\btrigger(?:\s+words?|\s+tokens?)?\s*(?:is|=|:|should\s+be|will\s+be)?\s+" + _TOKEN, re.I),
    re.compile(r"\b(?:token|keyword|instance\s+word)\s*(?:is|=|:)\s*" + _TOKEN, re.I),
    re.compile(r"\buse\s+" + _TOKEN + r"\s+as\s+(?:the\s+|a\s+)?(?:trigger|token|keyword|name)", re.I),
    re.compile(r"\brename\s+(?:it\s+)?(?:to\s+)?" + _TOKEN, re.I),
]
_DOMAIN_WORDS = "|".join(sorted(lx.DOMAIN_NOUNS, key=len, reverse=True))
_SUBJECT = re.compile(r"\b(?:my|our|this|a|an|the)\s+(" + _DOMAIN_WORDS + r")\s+" + _TOKEN, re.I)
_IS_MY = re.compile(_TOKEN + r"\s+is\s+(?:my|our|a|an|the)\s+(?:\w+\s+)?(?:" + _DOMAIN_WORDS + r")\b", re.I)
_DOMAIN = re.compile(
    r"\b(?:my|our|train(?:ing)?\s+(?:a|an|the|my|our|this)?|is\s+(?:a|an))\s*(" + _DOMAIN_WORDS + r")\b|\b("
    + _DOMAIN_WORDS + r")\s+lora\b",
    re.I,
)
_QUOTED = re.compile(r"(?:(?<=\s)|^)['\"]([A-Za-z0-9][\w\-]*)['\"](?=\W|$)")
_NOT_A_TRIGGER = lx.FILLER | lx.DETERMINERS | lx.PRONOUNS | lx.CUT_WORDS | {"and", "but", "lora", "with"}
_WORD_AT = re.compile(r"[A-Za-z0-9][\w\-]*")
# Where a made-up token is the subject of the message: "LoRA of sks", "train sks", "sks to look ...".
_SUBJECT_BEFORE = {"of", "for", "my", "our", "train", "training", "teach", "want", "learn", "learns", "lora",
                   "about", "meet", "introducing", "call", "name", "subject", "character", "person", "oc"}
_SUBJECT_AFTER = {"to", "is", "should", "must", "will", "can", "looks", "look", "has", "wears", "always",
                  "needs", "stays", "remains", "appears", "lora"}
# A rare word right after one of these is a thing in the picture (a typo'd noun), not a name.
_NOT_AFTER = {"the", "a", "an", "this", "that", "these", "those", "her", "his", "their", "its", "any", "no",
              "every", "each", "some", "your", "teh"}


def _is_name(word: str, start: int, text: str) -> bool:
    """A made-up token, or a capitalised word inside a sentence ("my character Mira")."""
    if not lx.is_word(word):
        return True
    before = text[:start].rstrip()
    return word[:1].isupper() and not word.isupper() and bool(before) and before[-1] not in ".!?:;\n"


def _rare_subjects(text: str) -> list[re.Match[str]]:
    """Made-up tokens the message is about, found by where they stand rather than by a fixed phrasing."""
    tokens = list(_WORD_AT.finditer(text))
    found = []
    for i, match in enumerate(tokens):
        word = match.group(0)
        if not any(ch.isalpha() for ch in word) or lx.is_word(word) or len(word) < 2:
            continue
        prev = tokens[i - 1].group(0).lower() if i else ""
        following = tokens[i + 1].group(0).lower() if i + 1 < len(tokens) else ""
        gap = text[tokens[i - 1].end() : match.start()] if i else ""
        if prev in _NOT_AFTER and not any(ch in gap for ch in ",.;:!?"):
            continue
        if prev in _SUBJECT_BEFORE or following in _SUBJECT_AFTER or text[match.end() :].startswith(("'s", "\u2019s")):
            found.append(match)
    return found


def find_triggers(text: str) -> tuple[list[str], str, str]:
    """(trigger words, domain, text with the trigger statements taken out)."""
    words: list[str] = []
    spans: list[tuple[int, int]] = []

    def take(match: re.Match[str], group: int, strict: bool = False) -> None:
        word = match.group(group)
        if strict and not _is_name(word, match.start(group), text):
            return  # "the face stays": a dictionary word in the name's place is not a name
        if word and word.lower() not in _NOT_A_TRIGGER and word.lower() not in lx.DOMAIN_NOUNS:
            if word not in words:
                words.append(word)
            start, end = match.span()
            if text[end : end + 2] in {"'s", "\u2019s"}:
                end += 2  # "zxq's face": the possessive goes with the name
            spans.append((start, end))

    for pattern in _TRIGGER_PATTERNS:
        for match in pattern.finditer(text):
            take(match, 1)
    for match in _SUBJECT.finditer(text):
        take(match, 2, strict=True)  # the whole "my dog sks" goes: the subject is not a concept
    for match in _IS_MY.finditer(text):
        take(match, 1, strict=True)
    for match in _QUOTED.finditer(text):
        take(match, 1)
    for match in _rare_subjects(text):
        take(match, 0)
    words.sort(key=lambda w: text.find(w))
    domain = ""
    for match in _DOMAIN.finditer(text):
        domain = domain or lx.DOMAIN_NOUNS[(match.group(1) or match.group(2)).lower()]
        if match.group(2):
            spans.append(match.span())  # "a style LoRA" says what kind of LoRA, it names no concept
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + " " + text[end:]
    return words, domain, text
