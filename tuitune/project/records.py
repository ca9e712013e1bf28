"""Typed rows of the project database: what ProjectDB's queries return."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DECISIONS = ("pending", "accepted", "rejected")  # an instance's review state


@dataclass(frozen=True)
class SpecVersion:
    version: int
    spec_json: str
    message: str
    created: float

    @property
    def spec(self) -> dict[str, Any]:
        return json.loads(self.spec_json)


@dataclass(frozen=True)
class Turn:
    id: int
    role: str
    text: str
    spec_version: int | None
    attachments: list[Any]
    created: float


@dataclass(frozen=True)
class Item:
    id: int
    image: str  # as stored: relative to the project when inside it
    path: Path  # absolute, at the project's current location
    caption: str
    enabled: bool
    split: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class MaskEntry:
    image: str
    concept: str
    path: Path
    source: str


@dataclass(frozen=True)
class Instance:
    id: int
    image: str
    concept: str
    box: tuple[float, float, float, float]
    score: float
    decision: str


@dataclass(frozen=True)
class RunRecord:
    name: str
    kind: str
    path: Path
    created: float
    note: str


@dataclass(frozen=True)
class EvalRecord:
    """One checkpoint's evaluation: status, intent score, every metric (name/value/reason) and whether it is
    the run's recommended checkpoint."""

    id: int
    run: str
    checkpoint: str
    step: int | None
    settings: str
    spec_version: int | None
    status: str
    score: float | None
    metrics: list[dict[str, Any]]
    reason: str
    recommended: bool
    created: float
