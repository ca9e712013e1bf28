"""The caption optimiser: rewrite captions from the spec (trigger first, modify described, keep/delete dropped)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tuitune import atomic
from tuitune.intent import lexicon as lx
from tuitune.intent.spec import Concept, Granularity, IntentSpec, Operation, is_dont_care

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
_ADJECTIVES = set(lx.VALUE_CATEGORY) | {
    "small", "big", "large", "little", "tiny", "huge", "dark", "light", "bright", "pale", "old", "new",
    "faint", "visible", "semi-transparent", "transparent", "grey-ish", "prominent", "subtle",
}
_DETERMINERS = r"(?:a|an|the|some|her|his|their|its|this|that)"
_LEADERS = r"(?:with|wearing|and|plus|having|has|showing|featuring|in|holding|carrying)"
_PLACE = (
    r"(?:\s+(?:in|on|at|across|over|along|near)\s+(?:the\s+)?(?:\w+\s+){0,2}?"
    r"(?:corner|bottom|top|left|right|side|edge|center|centre|middle|image|picture|photo|frame|background))?"
)
# Words a caption uses for a thing having a mark ("watermarked", "signed").
_PARTICIPLES = {"watermark": ["watermarked"], "signature": ["signed"], "logo": ["logoed", "branded"],
                "text": ["texted"], "caption": ["captioned"], "border": ["bordered"], "frame": ["framed"]}


@dataclass(frozen=True)
class CaptionChange:
    image: Path
    caption_file: Path
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _name_forms(concept: Concept) -> list[str]:
    """Ways a caption may name the concept: "hair colour" -> hair; "black jacket" -> black jacket, jacket.

    A bare attribute ("colour", "size") names no thing of its own: it is a property of the subject, so the
    caption mentions it only through its values and the list is empty.
    """
    words = concept.name.lower().split()
    if concept.granularity is Granularity.ATTRIBUTE and words[-1] in lx.ATTRIBUTE_NOUNS:
        if all(w in lx.ATTRIBUTE_NOUNS for w in words):
            return []
        words = words[:-1]
    forms = [" ".join(words)]
    if len(words) > 1 and all(w in _ADJECTIVES for w in words[:-1]):
        forms.append(words[-1])
    return forms


def _category(concept: Concept) -> str | None:
    """The kind of value an attribute takes ("hair colour" -> colour), when the lexicon knows it."""
    last = concept.name.lower().split()[-1]
    last = {"color": "colour", "colours": "colour", "colors": "colour"}.get(last, last)
    return last if last in lx.VALUES else None


def _pattern(concept: Concept, place: bool = True) -> re.Pattern[str] | None:
    """A mention of the concept with its articles, adjectives, a leading 'with' and (``place``) a trailing
    place ("in the corner"); None when the concept has no noun of its own."""
    forms = _name_forms(concept)
    if not forms:
        return None
    nouns = []
    for form in forms:
        escaped = r"\s+".join(re.escape(w) for w in form.split())
        nouns.append(escaped + r"(?:e?s)?")
    adjectives = "|".join(re.escape(a) for a in sorted(_ADJECTIVES, key=len, reverse=True))
    noun = "(?:" + "|".join(nouns) + ")"
    participles = [p for form in forms for p in _PARTICIPLES.get(form.split()[-1], [])]
    mention = (
        rf"(?P<lead>{_LEADERS}\s+)?(?:{_DETERMINERS}\s+)?(?:(?:{adjectives})\s+){{0,3}}{noun}"
        + (_PLACE if place else "")
    )
    if participles:
        mention = "(?:" + mention + "|" + "|".join(re.escape(p) for p in participles) + ")"
    return re.compile(rf"\b{mention}\b", re.IGNORECASE)


def _strip(segment: str, pattern: re.Pattern[str]) -> str:
    cleaned = pattern.sub(" ", segment)
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" .;:-")
    # A mention removed from the end can leave a dangling joiner ("a girl and").
    cleaned = re.sub(rf"\s+{_LEADERS}$|^{_LEADERS}\s+(?={_DETERMINERS}\b|{_LEADERS}\b)", "", cleaned,
                     flags=re.IGNORECASE).strip()
    cleaned = re.sub(rf"\s+{_LEADERS}$", "", cleaned, flags=re.IGNORECASE).strip()
    if re.fullmatch(rf"(?:{_DETERMINERS}|{_LEADERS}|\W)*", cleaned, flags=re.IGNORECASE):
        return ""
    return cleaned


def _value_pattern(words: list[str]) -> re.Pattern[str] | None:
    """Any of ``words`` as a whole word, unless it describes the background ("a red ring on a *blue*
    background" names the ring's colour, not the background's)."""
    words = [w for w in words if w]
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    background = "|".join(sorted(lx.IMAGERY_NOUNS, key=len, reverse=True))
    colours = "|".join(sorted(lx.VALUES["colour"], key=len, reverse=True))
    return re.compile(
        rf"(?<![\w-])(?:{alternatives})(?![\w-])(?!(?:\s+(?:and|{colours}|-?tone|two))*\s+(?:{background})\b)",
        re.IGNORECASE,
    )


def _candidates(concept: Concept, values: Mapping[str, str], category: bool = True) -> list[str]:
    """Words that may stand for the concept's value in a caption (with ``category``, every word of its kind:
    any colour for a colour attribute)."""
    words = [concept.value or "", values.get(concept.key, ""), *concept.alternatives]
    kind = _category(concept) if category else None
    if kind is not None:
        words.extend(lx.VALUES[kind])
    return [w for w in words if w]


def _description(concept: Concept, value: str | None) -> str | None:
    """How a modify concept is described: "red hair" for hair colour = red, "blue jacket" for jacket = blue,
    and the value alone for a bare attribute of the subject ("red" for colour = red)."""
    if not value:
        return None
    forms = _name_forms(concept)
    return f"{value} {forms[0]}" if forms else value


def _segments(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"[,;\n]|(?<=\w)\.\s", text) if s.strip()]


def optimise(caption: str, spec: IntentSpec, values: Mapping[str, str] | None = None) -> str:
    """The caption rewritten for ``spec``; ``values`` gives this image's value per modify concept name.

    Trigger words first; modify concepts described with this image's value (the caption's own wording when it
    already names one); keep concepts removed, left to the trigger word; delete concepts removed however
    phrased ("a watermark in the corner", "watermarked"). "Doesn't matter" concepts keep the caption's words.
    """
    values = {k.casefold(): v for k, v in (values or {}).items()}
    text = " ".join(caption.split())
    for word in spec.trigger_words:
        text = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", " ", text, flags=re.IGNORECASE)
    segments = _segments(text)
    modify = [c for c in spec.by_operation(Operation.MODIFY) if not is_dont_care(c)]
    # This image's value per modify concept, found (and, when ``values`` says so, replaced) before keep
    # mentions go: "a red ring" loses "ring" to the trigger word but "red" is still this image's colour.
    chosen: dict[str, str] = {}
    for concept in modify:
        wanted = values.get(concept.key)
        mention = _pattern(concept, place=False)
        finder = _value_pattern(_candidates(concept, values))
        found = None
        if mention is not None and not any(mention.search(s) for s in segments):
            # The caption names the thing differently ("a red circle" for "shape colour"): the concept's own
            # values anywhere still say which value this image has.
            mention, finder = None, _value_pattern(_candidates(concept, values, category=False))
        for i, segment in enumerate(segments):
            spans = [m.span() for m in mention.finditer(segment)] if mention else [(0, len(segment))]
            for start, end in spans:
                hit = finder.search(segment, start, end) if finder else None
                if hit is None:
                    continue
                found = hit.group(0)
                if wanted and found.casefold() != wanted.casefold():
                    segments[i] = segment[: hit.start()] + wanted + segment[hit.end():]
                    found = wanted
                break
            if found:
                break
        value = wanted or found or concept.value
        if value:
            chosen[concept.key] = value
    for concept in spec.concepts:
        if concept.operation not in {Operation.DELETE, Operation.KEEP}:
            continue
        pattern = _pattern(concept, place=concept.operation is Operation.DELETE)
        if pattern is None and concept.operation is Operation.KEEP and _category(concept) is not None:
            # A kept bare attribute ("keep its colour") is what the trigger word learns: its values go.
            pattern = _value_pattern(sorted(lx.VALUES[_category(concept) or ""]))
        if pattern is None:
            continue
        segments = [s for s in (_strip(s, pattern) for s in segments) if s]
    described: list[str] = []
    for concept in modify:
        value = chosen.get(concept.key)
        phrase = _description(concept, value)
        if phrase is None or value is None:
            continue
        finder = _value_pattern([value])
        mention = _pattern(concept, place=False)
        if finder is not None and any(
            finder.search(s) and (mention is None or mention.search(s)) for s in segments
        ):
            continue  # the caption already says it in its own words
        described.append(phrase)
    parts = list(spec.trigger_words[:1]) + [" ".join(spec.trigger_words[1:])] + described + segments
    return ", ".join(p for p in parts if p)


def trigger_meaning(spec: IntentSpec) -> str:
    """The words the trigger takes over from the captions: each kept thing's name ("ring shape" -> "ring",
    "black jacket" -> "black jacket"), the words the optimiser drops because the trigger now carries them; ""
    when the spec keeps nothing with a name (a bare "keep its colour", a style)."""
    words = []
    for concept in spec.by_operation(Operation.KEEP):
        forms = _name_forms(concept) if concept.granularity is not Granularity.IMAGERY else []
        if forms and forms[0] not in words:
            words.append(forms[0])
    return " ".join(words)


def trigger_tags(spec: IntentSpec) -> int:
    """How many leading comma-separated tags of an optimised caption are trigger words (``optimise`` writes the
    first trigger word, then the others as one tag): the ``keep_tokens`` a tag-dropout run keeps."""
    return min(len(spec.trigger_words), 2)


def caption_file(image: Path) -> Path:
    return image.with_suffix(".txt")


def preview(folder: str | Path, spec: IntentSpec,
            values: Mapping[str, Mapping[str, str]] | None = None) -> list[CaptionChange]:
    """Old -> new caption per image in ``folder`` (images with or without a .txt beside them); writes nothing."""
    root = Path(folder)
    images = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    changes = []
    for image in images:
        txt = caption_file(image)
        old = txt.read_text(encoding="utf-8").strip() if txt.exists() else ""
        new = optimise(old, spec, (values or {}).get(image.stem))
        changes.append(CaptionChange(image, txt, old, new))
    return changes


def write(changes: list[CaptionChange]) -> int:
    """Write the changed captions atomically; returns how many files were written."""
    written = 0
    for change in changes:
        if change.changed:
            atomic.write_text(change.caption_file, change.new + "\n")
            written += 1
    return written
