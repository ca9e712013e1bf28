"""The project's intent history as the app sees it: spec versions, turns and regions from the project DB.

The same tables ``tuitune intent --project`` reads and writes (through ``tuitune.intent.project_link``), so
the Intent screen and the CLI share one history. ``project`` is always the engine's open ``Project``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tuitune.intent.dialogue import Dialogue, Turn
from tuitune.intent.errors import IntentError
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec, diff

LEGACY_FILE = "intent.json"  # where an earlier tuitune app kept the dialogue


def _db(project: Any) -> Any:
    if project is None:
        raise IntentError("The project database is not open; reopen the project.")
    return project.db


def load_history(project: Any) -> Dialogue:
    """Every spec version, turn and reference region stored in the project, oldest first."""
    db = _db(project)
    dialogue = Dialogue()
    for stored in db.specs():
        try:
            dialogue.versions.append(IntentSpec.model_validate({**stored.spec, "version": stored.version}))
        except ValueError as exc:
            raise IntentError(f"The project's spec version {stored.version} is not valid ({exc}).") from exc
    for turn in db.turns():
        dialogue.turns.append(Turn(turn.role, turn.text, turn.created, turn.spec_version))
        for item in turn.attachments:
            if isinstance(item, dict) and {"number", "image", "box"} <= item.keys():
                dialogue.regions.append(Region.from_dict(item))
    return dialogue


def latest_spec(project: Any) -> IntentSpec | None:
    """The current spec alone (cheaper than the whole history); None before the first intent."""
    stored = _db(project).latest_spec()
    if stored is None:
        return None
    try:
        return IntentSpec.model_validate({**stored.spec, "version": stored.version})
    except ValueError as exc:
        raise IntentError(f"The project's spec version {stored.version} is not valid ({exc}).") from exc


def history_token(project: Any) -> tuple[int, int]:
    """Changes whenever a spec version or a turn is added: screens reload only then."""
    row = _db(project).conn.execute("SELECT (SELECT COUNT(*) FROM specs), (SELECT COUNT(*) FROM turns)").fetchone()
    return int(row[0]), int(row[1])


def record_parse(project: Any, text: str, spec: IntentSpec, current: IntentSpec | None) -> IntentSpec:
    """Store a parsed message: the user turn, the new spec version and the reply (as the CLI does)."""
    from tuitune.intent.project_link import store

    if project is None:
        raise IntentError("The project database is not open; reopen the project.")
    return store(project, text, spec, current, [])


def record_failure(project: Any, text: str, error: str, current: IntentSpec | None) -> None:
    """Store a message the parser refused, and why, so the conversation reads as it happened."""
    db = _db(project)
    version = current.version if current else None
    db.add_turn("user", text, version)
    db.add_turn("assistant", error, version)


def record_edit(project: Any, what: str, spec: IntentSpec, current: IntentSpec) -> IntentSpec:
    """Store a spec edited by hand as the next version, with a turn saying what was edited."""
    db = _db(project)
    db.add_turn("user", what, current.version)
    number = db.save_spec(spec.model_dump(mode="json", exclude={"version"}), message=what)
    spec = spec.model_copy(update={"version": number})
    db.add_turn("assistant", "; ".join(diff(current, spec)) or "no change", number)
    return spec


def record_region(project: Any, region: Region, current: IntentSpec | None) -> None:
    """Store a reference region at once (as a turn's attachment), so it survives quitting before a message."""
    box = ",".join(f"{v:g}" for v in region.box)
    _db(project).add_turn("user", f"reference [{region.number}]: {region.image}:{box}",
                          current.version if current else None, [region.to_dict()])


def import_legacy(project: Any) -> str | None:
    """Move a dialogue kept in ``intent.json`` into the project DB once; returns a sentence when it did."""
    root = Path(project.root)
    legacy = root / LEGACY_FILE
    if not legacy.is_file() or getattr(project, "readonly", True):
        return None
    db = _db(project)
    if db.specs() or db.turns():
        return None  # the DB already has a history: leave the old file for the user to look at
    try:
        old = Dialogue.from_json(legacy.read_text(encoding="utf-8"))
    except (OSError, IntentError) as exc:
        return f"{LEGACY_FILE} could not be imported ({exc}); it was left as it is."
    numbers: dict[int, int] = {}
    for spec in old.versions:
        numbers[spec.version] = db.save_spec(spec.model_dump(mode="json", exclude={"version"}),
                                             message=old.message_for(spec.version))
    for turn in old.turns:
        version = numbers.get(turn.spec_version) if turn.spec_version is not None else None
        db.add_turn(turn.role, turn.text, version)
    if old.regions:
        db.add_turn("user", "references from intent.json", numbers.get(old.current.version) if old.current else None,
                    [r.to_dict() for r in old.regions])
    legacy.rename(legacy.with_name(LEGACY_FILE + ".imported"))
    return f"The intent history in {LEGACY_FILE} now lives in the project database ({len(numbers)} versions)."


def spec_file(spec: IntentSpec, folder: Path) -> Path:
    """Write ``spec`` as JSON for a subprocess to read; returns the file."""
    path = folder / f"spec-v{spec.version}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(spec.model_dump(mode="json")), encoding="utf-8")
    return path
