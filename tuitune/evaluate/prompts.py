"""Held-out evaluation prompts derived from an IntentSpec: trigger, per-alternative and neutral prompts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from tuitune.intent.spec import Concept, Granularity, IntentSpec, Operation

# Seeds far from the usual training seeds (0, 42, 1234) so evaluation never replays a training draw.
DEFAULT_SEEDS = (7001, 7002)

# "{t}" is the trigger word. Short and generic, so they read well for characters, objects and styles.
DEFAULT_TRIGGER_TEMPLATES = ("{t}", "a picture of {t}", "{t}, centered, plain light")

# Prompts without the trigger: a LoRA that leaves the base model alone draws these as the base does.
DEFAULT_NEUTRAL_PROMPTS = ("a red apple on a table", "a quiet street at dusk", "a blue car in a field")

# Words that turn a thing into one of its attributes: "hair colour" is the colour *of* the hair.
_ATTRIBUTE_WORDS = {
    "colour", "color", "colours", "colors", "length", "texture", "style", "pattern", "shape", "size",
    "material", "tone", "shade",
}


class PromptKind(StrEnum):
    TRIGGER = "trigger"  # the trigger word, nothing asked to change: keep fidelity, delete absence, drift
    ALTERNATIVE = "alternative"  # asks a modify concept for one of its alternatives: modify flexibility
    NEUTRAL = "neutral"  # no trigger word: drift over the whole image


@dataclass(frozen=True)
class EvalPrompt:
    text: str
    seed: int
    kind: PromptKind
    concept: str | None = None  # the modify concept an ALTERNATIVE prompt asks about
    alternative: str | None = None  # the value it asks for

    @property
    def key(self) -> str:
        """A stable file-name-safe identity: kind, seed and a short hash of the text."""
        import hashlib

        digest = hashlib.sha1(self.text.encode("utf-8")).hexdigest()[:10]
        return f"{self.kind.value}-{self.seed}-{digest}"

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> EvalPrompt:
        return cls(
            text=str(data["text"]),
            seed=int(data["seed"]),  # type: ignore[arg-type]
            kind=PromptKind(str(data["kind"])),
            concept=data.get("concept"),  # type: ignore[arg-type]
            alternative=data.get("alternative"),  # type: ignore[arg-type]
        )


@dataclass
class EvalPromptSet:
    prompts: list[EvalPrompt] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # candidates dropped because they are training captions
    notes: list[str] = field(default_factory=list)  # why a kind of prompt is missing

    def of_kind(self, kind: PromptKind) -> list[EvalPrompt]:
        return [p for p in self.prompts if p.kind is kind]

    def to_json(self) -> str:
        return json.dumps(
            {"prompts": [p.to_dict() for p in self.prompts], "excluded": self.excluded, "notes": self.notes},
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> EvalPromptSet:
        data = json.loads(text)
        return cls(
            prompts=[EvalPrompt.from_dict(p) for p in data.get("prompts", [])],
            excluded=list(data.get("excluded", [])),
            notes=list(data.get("notes", [])),
        )


def concept_noun(concept: Concept) -> str:
    """The thing a concept lives on, for detection and prompts: "hair colour" -> "hair", "colour" -> ""."""
    words = concept.name.split()
    if concept.granularity is Granularity.ATTRIBUTE:
        while words and words[-1].lower() in _ATTRIBUTE_WORDS:
            words.pop()
    return " ".join(words)


def detection_query(concept: Concept) -> str:
    """The text a detector is asked for to find ``concept`` (its noun, or its name when it is all attribute)."""
    return concept_noun(concept) or concept.name


def alternative_prompt(trigger: str, concept: Concept, alternative: str) -> str:
    """A prompt asking for ``alternative``: "zxq with blue hair", "zxq with a blue jacket", "a blue zxq"."""
    noun = concept_noun(concept)
    a = "an" if alternative[:1].lower() in "aeiou" else "a"
    if not noun:
        return f"{a} {alternative} {trigger}"
    if concept.granularity is Granularity.INSTANCE:
        return f"{trigger} with {a} {alternative} {noun}"
    return f"{trigger} with {alternative} {noun}"


def _normal(text: str) -> str:
    return " ".join(text.casefold().replace(",", " , ").split())


def build_prompts(
    spec: IntentSpec,
    training_captions: Iterable[str] = (),
    seeds: Sequence[int] = DEFAULT_SEEDS,
    trigger_templates: Sequence[str] = DEFAULT_TRIGGER_TEMPLATES,
    neutral_prompts: Sequence[str] = DEFAULT_NEUTRAL_PROMPTS,
) -> EvalPromptSet:
    """Every prompt x seed the metrics need; exact training captions are excluded so the set stays held out."""
    if not seeds:
        raise ValueError("evaluation needs at least one seed")
    seen_in_training = {_normal(c) for c in training_captions if c.strip()}
    result = EvalPromptSet()
    texts: list[tuple[str, PromptKind, str | None, str | None]] = []

    trigger = spec.trigger_words[0] if spec.trigger_words else None
    if trigger is None:
        result.notes.append("the spec has no trigger word, so only neutral prompts are generated")
    else:
        for template in trigger_templates:
            texts.append((template.format(t=trigger), PromptKind.TRIGGER, None, None))
        for concept in spec.by_operation(Operation.MODIFY):
            if not concept.alternatives:
                result.notes.append(f"modify concept {concept.name!r} has no alternatives to ask for")
            for alternative in concept.alternatives:
                text = alternative_prompt(trigger, concept, alternative)
                texts.append((text, PromptKind.ALTERNATIVE, concept.name, alternative))
    for text in neutral_prompts:
        if trigger and trigger.casefold() in text.casefold().split():
            result.notes.append(f"neutral prompt {text!r} contains the trigger word; skipped")
            continue
        texts.append((text, PromptKind.NEUTRAL, None, None))

    seen: set[str] = set()
    for text, kind, concept_name, alternative in texts:
        norm = _normal(text)
        if norm in seen:
            continue
        seen.add(norm)
        if norm in seen_in_training:
            result.excluded.append(text)
            continue
        for seed in seeds:
            result.prompts.append(EvalPrompt(text, int(seed), kind, concept_name, alternative))
    if result.excluded:
        result.notes.append(f"{len(result.excluded)} prompt(s) equal a training caption and were left out")
    return result
