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
    """Ways a caption may name the concept: "hair colour" -> hair; "black jacket" -> black jacket, jacket."""
    words = concept.name.lower().split()
    if concept.granularity is Granularity.ATTRIBUTE and len(words) > 1 and words[-1] in lx.ATTRIBUTE_NOUNS:
        words = words[:-1]
    forms = [" ".join(words)]
    if len(words) > 1 and all(w in _ADJECTIVES for w in words[:-1]):
        forms.append(words[-1])
    return forms


def _pattern(concept: Concept) -> re.Pattern[str]:
    """Matches a mention of the concept with its articles, adjectives, a leading 'with' and a trailing place."""
    nouns = []
    for form in _name_forms(concept):
        escaped = r"\s+".join(re.escape(w) for w in form.split())
        nouns.append(escaped + r"(?:e?s)?")
    adjectives = "|".join(re.escape(a) for a in sorted(_ADJECTIVES, key=len, reverse=True))
    noun = "(?:" + "|".join(nouns) + ")"
    participles = [p for form in _name_forms(concept) for p in _PARTICIPLES.get(form.split()[-1], [])]
    mention = (
        rf"(?P<lead>{_LEADERS}\s+)?(?:{_DETERMINERS}\s+)?(?:(?:{adjectives})\s+){{0,3}}{noun}{_PLACE}"
    )
    if participles:
        mention = "(?:" + mention + "|" + "|".join(re.escape(p) for p in participles) + ")"
    return re.compile(rf"\b{mention}\b", re.IGNORECASE)


def _strip(segment: str, pattern: re.Pattern[str]) -> str:
    cleaned = pattern.sub(" ", segment)
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" .;:-")
    # A mention removed from the end can leave a dangling joiner ("a girl and").
    cleaned = re.sub(rf"\s+{_LEADERS}$|^{_LEADERS}\s+", "", cleaned, flags=re.IGNORECASE).strip()
    if re.fullmatch(rf"(?:{_DETERMINERS}|{_LEADERS}|\W)*", cleaned, flags=re.IGNORECASE):
        return ""
    return cleaned


def _description(concept: Concept, value: str | None) -> str | None:
    """How a modify concept is described: "red hair" for hair colour = red, "blue jacket" for jacket = blue."""
    if not value:
        return None
    head = " ".join(_name_forms(concept)[0].split())
    return f"{value} {head}"


def optimise(caption: str, spec: IntentSpec, values: Mapping[str, str] | None = None) -> str:
    """The caption rewritten for ``spec``; ``values`` gives this image's value per modify concept name."""
    values = {k.casefold(): v for k, v in (values or {}).items()}
    text = " ".join(caption.split())
    for word in spec.trigger_words:
        text = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", " ", text, flags=re.IGNORECASE)
    segments = [s.strip() for s in re.split(r"[,\n]|(?<=\w)\.\s", text)]
    removable = [_pattern(c) for c in spec.concepts if c.operation in {Operation.DELETE, Operation.KEEP}]
    kept: list[str] = []
    for segment in segments:
        for pattern in removable:
            segment = _strip(segment, pattern)
            if not segment:
                break
        if segment:
            kept.append(segment)
    described: list[str] = []
    for concept in spec.by_operation(Operation.MODIFY):
        if is_dont_care(concept):
            continue  # the caption's own description stays, so the trigger word does not absorb it
        value = values.get(concept.key) or concept.value
        phrase = _description(concept, value)
        if phrase is None:
            continue
        mention = _pattern(concept)
        if any(mention.search(s) for s in kept):
            head = _name_forms(concept)[0]
            # Already described: make sure it names this value (unless it names another one on purpose).
            if not any(re.search(rf"\b{re.escape(value)}\b", s, re.IGNORECASE) for s in kept if head in s.lower()):
                if values.get(concept.key):
                    def swap(match: re.Match[str], phrase: str = phrase) -> str:
                        return (match.group("lead") or "") + phrase

                    kept = [mention.sub(swap, s, count=1) for s in kept]
            continue
        described.append(phrase)
    parts = list(spec.trigger_words[:1]) + [" ".join(spec.trigger_words[1:])] + described + kept
    return ", ".join(p for p in parts if p)


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
