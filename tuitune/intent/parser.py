"""The IntentParser protocol and the input checks every parser shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from tuitune.intent.errors import IntentError
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec

MAX_CHARS = 20_000

TokenCallback = Callable[[str], None]


@runtime_checkable
class IntentParser(Protocol):
    """Turns a message (and the spec so far) into the next spec; never mutates ``current``."""

    def parse(
        self,
        text: str,
        current: IntentSpec | None,
        regions: Sequence[Region],
        on_token: TokenCallback | None = None,
    ) -> IntentSpec: ...


def check_text(text: str) -> str:
    """The message stripped, or a one-sentence error for empty or oversized input."""
    if not isinstance(text, str) or not text.strip():
        raise IntentError("The message is empty; say what to keep, change or remove, e.g. 'keep the face'.")
    if len(text) > MAX_CHARS:
        raise IntentError(
            f"The message has {len(text):,} characters, more than {MAX_CHARS:,}; "
            "send the intent in a shorter message."
        )
    return text.strip()


def check_references(spec: IntentSpec, regions: Sequence[Region], current: IntentSpec | None = None) -> None:
    """Every region number a concept newly cites must exist (ones the current spec already cites stay valid)."""
    known = {r.number for r in regions}
    if current is not None:
        known |= {n for c in current.concepts for n in c.references}
    for concept in spec.concepts:
        missing = [n for n in concept.references if n not in known]
        if missing:
            have = ", ".join(f"[{n}]" for n in sorted(known)) or "none"
            raise IntentError(
                f"Region [{missing[0]}] (for {concept.name!r}) does not exist; the regions are: {have}. "
                "Add it with --ref IMAGE:x0,y0,x1,y1 or use an existing number."
            )


def next_version(spec: IntentSpec, current: IntentSpec | None) -> IntentSpec:
    """``spec`` numbered one after ``current`` (1 for a first spec)."""
    return spec.model_copy(update={"version": (current.version + 1) if current else 1})
