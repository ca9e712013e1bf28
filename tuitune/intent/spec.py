"""The IntentSpec: what the LoRA should learn, per concept, as a validated, versioned pydantic model."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Concept names become mask file names (``masks/<stem>/<name>.png``), so they must be safe path parts.
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f]")


class Granularity(StrEnum):
    ATTRIBUTE = "attribute"  # a property of something: hair colour, length, texture
    INSTANCE = "instance"  # a thing with a place in the picture: face, jacket, logo
    IMAGERY = "imagery"  # the whole picture's look: background, lighting, style


class Operation(StrEnum):
    KEEP = "keep"
    MODIFY = "modify"
    DELETE = "delete"


def concept_filename(concept: str) -> str:
    """The mask file name of a concept (without .png), one every OS accepts; otherwise the name as typed."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", concept.strip()).strip(". ")
    return cleaned or "concept"


class Concept(BaseModel):
    """One thing the user named and what should happen to it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description='What the concept is, in the user\'s words: "hair colour", "jacket".')
    granularity: Granularity
    operation: Operation
    references: list[int] = Field(default_factory=list, description="Numbers of reference regions [1], [2]...")
    alternatives: list[str] = Field(default_factory=list, description="For modify: values it may take.")
    excluded: list[str] = Field(
        default_factory=list, description='For modify: values it must never take ("any colour but green").'
    )
    value: str | None = Field(default=None, description='Current value when known, e.g. "red".')
    loss_weight: float | None = Field(default=None, ge=0.0, description="Override of the default weight.")
    preserve: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Override of the preservation value P inside the mask."
    )
    dont_care: bool = Field(default=False, description="True when the user said it doesn't matter.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_dont_care(cls, data: Any) -> Any:
        """Specs saved before the flag marked "doesn't matter" as modify + loss_weight 0.1 + preserve 1."""
        if (isinstance(data, dict) and "dont_care" not in data and data.get("operation") in ("modify", Operation.MODIFY)
                and data.get("loss_weight") == DONT_CARE_WEIGHT and data.get("preserve") == 1.0):
            return {**data, "dont_care": True, "loss_weight": None, "preserve": None}
        return data

    @field_validator("name")
    @classmethod
    def _clean_name(cls, name: str) -> str:
        name = " ".join(name.split())
        if not name:
            raise ValueError("a concept needs a name")
        if _UNSAFE_NAME.search(name) or name in {".", ".."}:
            raise ValueError(f"concept name {name!r} cannot contain slashes or control characters")
        return name

    @field_validator("references")
    @classmethod
    def _positive_references(cls, refs: list[int]) -> list[int]:
        if any(r < 1 for r in refs):
            raise ValueError("reference region numbers start at 1")
        return sorted(set(refs))

    @field_validator("alternatives", "excluded")
    @classmethod
    def _clean_alternatives(cls, values: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for value in values:
            value = " ".join(value.split())
            if value and value.lower() not in seen:
                seen[value.lower()] = value
        return list(seen.values())

    @field_validator("value")
    @classmethod
    def _clean_value(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return " ".join(value.split()) or None

    @property
    def key(self) -> str:
        """The case-insensitive identity used to match concepts across versions."""
        return self.name.casefold()


class IntentSpec(BaseModel):
    """Trigger words, domain and concepts: the single source the masks, captions, losses and metrics read."""

    model_config = ConfigDict(extra="forbid")

    trigger_words: list[str] = Field(description="Tokens that call the learned subject, e.g. ['zxq'].")
    domain: str = Field(default="", description='"character", "style", "object"...')
    concepts: list[Concept] = Field(default_factory=list)
    version: int = Field(default=1, ge=1)

    @field_validator("trigger_words")
    @classmethod
    def _tokens(cls, words: list[str]) -> list[str]:
        cleaned: list[str] = []
        for word in words:
            word = word.strip()
            if not word or any(ch.isspace() for ch in word):
                raise ValueError(f"trigger word {word!r} must be one non-empty token without spaces")
            if word not in cleaned:
                cleaned.append(word)
        return cleaned

    @field_validator("domain")
    @classmethod
    def _clean_domain(cls, domain: str) -> str:
        return " ".join(domain.split()).lower()

    @model_validator(mode="after")
    def _unique_names(self) -> IntentSpec:
        seen: set[str] = set()
        files: dict[str, str] = {}
        for concept in self.concepts:
            if concept.key in seen:
                raise ValueError(f"concept {concept.name!r} appears twice; merge the two entries")
            seen.add(concept.key)
            file = concept_filename(concept.name).casefold()
            if file in files:
                raise ValueError(f"concepts {files[file]!r} and {concept.name!r} would share the mask file "
                                 f"{concept_filename(concept.name)}.png; rename one of them")
            files[file] = concept.name
        return self

    def concept(self, name: str) -> Concept | None:
        """The concept called ``name`` (case-insensitive), or None."""
        key = " ".join(name.split()).casefold()
        return next((c for c in self.concepts if c.key == key), None)

    def by_operation(self, operation: Operation) -> list[Concept]:
        return [c for c in self.concepts if c.operation is operation]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> IntentSpec:
        return cls.model_validate_json(text)


# How specs saved before the ``dont_care`` flag marked a concept the user said does not matter: loss_weight
# exactly 0.1 and preserve 1 on a modify concept. Such specs are read with the flag set (Concept's validator).
DONT_CARE_WEIGHT = 0.1
# What a "doesn't matter" region gets in the loss, (W, P). Full weight: the trigger's pictures are learned
# whole, so the character is learned in its context instead of as the only thing the loss sees (at W 0.1 the
# trigger tinted whole pictures instead of taking on the kept shape). Preserved: the base model's prediction
# stays the reference there, which is what keeps drift on other prompts low (without it drift roughly doubled).
# Measured on the toyworld efficacy benchmark; see benchmarks/efficacy.py.
DONT_CARE_LOSS = (1.0, 1.0)
_DEFAULTS = {Operation.KEEP: (1.0, 0.0), Operation.MODIFY: (1.0, 0.0), Operation.DELETE: (0.0, 1.0)}


def loss_defaults(concept: Concept) -> tuple[float, float]:
    """(weight W, preserve P) inside the concept's mask: ``DONT_CARE_LOSS`` for a "doesn't matter" concept,
    else its overrides, else the operation's defaults."""
    if is_dont_care(concept):
        return DONT_CARE_LOSS
    weight, preserve = _DEFAULTS[concept.operation]
    return (
        weight if concept.loss_weight is None else concept.loss_weight,
        preserve if concept.preserve is None else concept.preserve,
    )


def is_dont_care(concept: Concept) -> bool:
    """A concept the user said does not matter, e.g. the background (its ``dont_care`` flag)."""
    return concept.dont_care


def _describe(concept: Concept) -> str:
    parts = [f"{concept.operation.value} {concept.name!r} ({concept.granularity.value})"]
    if concept.references:
        parts.append("regions " + ", ".join(f"[{r}]" for r in concept.references))
    if concept.value:
        parts.append(f"now {concept.value}")
    if concept.alternatives:
        parts.append("may become " + ", ".join(concept.alternatives))
    if concept.excluded:
        parts.append("never " + ", ".join(concept.excluded))
    if is_dont_care(concept):
        parts.append("doesn't matter")
    elif concept.loss_weight is not None:
        parts.append(f"weight {concept.loss_weight:g}")
    return "; ".join(parts)


def _fmt(value: object) -> str:
    if value is None or value == []:
        return "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def diff(old: IntentSpec | None, new: IntentSpec) -> list[str]:
    """Human-readable changes from ``old`` to ``new``, one line each; empty when nothing changed."""
    if old is None:
        lines = [f"trigger words: {_fmt(new.trigger_words)}"]
        if new.domain:
            lines.append(f"domain: {new.domain}")
        return lines + [f"added: {_describe(c)}" for c in new.concepts]
    lines: list[str] = []
    if old.trigger_words != new.trigger_words:
        lines.append(f"trigger words: {_fmt(old.trigger_words)} -> {_fmt(new.trigger_words)}")
    if old.domain != new.domain:
        lines.append(f"domain: {old.domain or 'none'} -> {new.domain or 'none'}")
    old_by_key = {c.key: c for c in old.concepts}
    new_by_key = {c.key: c for c in new.concepts}
    for concept in new.concepts:
        before = old_by_key.get(concept.key)
        if before is None:
            lines.append(f"added: {_describe(concept)}")
            continue
        for field in ("operation", "granularity", "references", "value", "alternatives", "excluded", "loss_weight",
                      "preserve"):
            a, b = getattr(before, field), getattr(concept, field)
            if a != b:
                label = field.replace("_", " ")
                lines.append(f"{concept.name}: {label} {_fmt(a)} -> {_fmt(b)}")
    for concept in old.concepts:
        if concept.key not in new_by_key:
            lines.append(f"removed: {_describe(concept)}")
    return lines
