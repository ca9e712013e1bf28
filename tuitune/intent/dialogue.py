"""The intent dialogue: turns, reference regions and every spec version, JSON-serialisable for storage."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from tuitune.intent.errors import IntentError
from tuitune.intent.parser import IntentParser, TokenCallback
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec, diff


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    text: str
    time: float
    spec_version: int | None  # the spec version in force after this turn


@dataclass
class Dialogue:
    """What the user said, what tuitune answered, and each spec version with the message that made it."""

    turns: list[Turn] = field(default_factory=list)
    versions: list[IntentSpec] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)

    @property
    def current(self) -> IntentSpec | None:
        return self.versions[-1] if self.versions else None

    def version(self, number: int) -> IntentSpec:
        for spec in self.versions:
            if spec.version == number:
                return spec
        have = ", ".join(str(s.version) for s in self.versions) or "none yet"
        raise IntentError(f"There is no spec version {number}; versions: {have}.")

    def diff(self, old: int, new: int) -> list[str]:
        return diff(self.version(old), self.version(new))

    def message_for(self, number: int) -> str:
        """The user message that produced spec version ``number``."""
        last_user = ""
        for turn in self.turns:
            if turn.role == "user":
                last_user = turn.text
            elif turn.spec_version == number:
                return last_user
        return ""

    def add_region(self, image: str, box: tuple[float, float, float, float], label: str = "") -> Region:
        region = Region(self.next_region_number(), image, box, label)
        self.regions.append(region)
        return region

    def next_region_number(self) -> int:
        return max((r.number for r in self.regions), default=0) + 1

    def say(self, text: str, parser: IntentParser, on_token: TokenCallback | None = None) -> IntentSpec:
        """Parse ``text`` against the current spec; on success store a new version, on error keep the old one.

        Both outcomes are recorded as turns so the conversation reads as it happened.
        """
        before = self.current
        self.turns.append(Turn("user", text, time.time(), before.version if before else None))
        try:
            spec = parser.parse(text, before, self.regions, on_token)
        except IntentError as exc:
            self.turns.append(Turn("assistant", str(exc), time.time(), before.version if before else None))
            raise
        changes = diff(before, spec)
        self.versions.append(spec)
        reply = "; ".join(changes) if changes else "no change"
        self.turns.append(Turn("assistant", reply, time.time(), spec.version))
        return spec

    def revert(self, number: int) -> IntentSpec:
        """Make an old version current again, as a new version (history is never rewritten)."""
        old = self.version(number)
        spec = old.model_copy(update={"version": self.current.version + 1 if self.current else 1})
        self.versions.append(spec)
        self.turns.append(Turn("assistant", f"reverted to version {number}", time.time(), spec.version))
        return spec

    def to_dict(self) -> dict[str, Any]:
        return {
            "turns": [asdict(t) for t in self.turns],
            "versions": [s.model_dump(mode="json") for s in self.versions],
            "regions": [r.to_dict() for r in self.regions],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dialogue:
        return cls(
            turns=[Turn(**t) for t in data.get("turns", [])],
            versions=[IntentSpec.model_validate(s) for s in data.get("versions", [])],
            regions=[Region.from_dict(r) for r in data.get("regions", [])],
        )

    @classmethod
    def from_json(cls, text: str) -> Dialogue:
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, TypeError, KeyError) as exc:
            raise IntentError(f"The saved dialogue cannot be read ({exc}); it may be from a newer tuitune.") from exc
