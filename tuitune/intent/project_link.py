"""Reads the intent state from a tuitune project and stores each new spec version with its turn."""

from __future__ import annotations

from typing import Any

from tuitune.intent.errors import IntentError
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec, diff


def open_project(path: str) -> Any:
    from tuitune.project.project import Project

    return Project.open(path)


def project_state(project: Any, override: IntentSpec | None) -> tuple[IntentSpec | None, list[Region], dict[str, str]]:
    """(current spec, reference regions from earlier turns, parser settings) of the project."""
    current = override
    latest = project.db.latest_spec()
    if current is None and latest is not None:
        try:
            current = IntentSpec.model_validate({**latest.spec, "version": latest.version})
        except ValueError as exc:
            raise IntentError(f"The project's spec version {latest.version} is not valid ({exc}).") from exc
    regions: list[Region] = []
    for turn in project.db.turns():
        for item in turn.attachments:
            if isinstance(item, dict) and {"number", "image", "box"} <= item.keys():
                regions.append(Region.from_dict(item))
    intent = project.settings.intent
    backend = {"transformers": "local"}.get(intent.parser, intent.parser)
    return current, regions, {"backend": backend, "model": intent.model, "host": intent.ollama_host}


def store(project: Any, text: str, spec: IntentSpec, current: IntentSpec | None, new_regions: list[Region]) -> IntentSpec:
    """Save the user turn, the spec version and the reply turn; the stored version number is the spec's."""
    if getattr(project, "readonly", False):
        raise IntentError("The project is open read-only (another tuitune holds it); the spec was not saved.")
    project.db.add_turn("user", text, current.version if current else None, [r.to_dict() for r in new_regions])
    number = project.db.save_spec(spec.model_dump(mode="json", exclude={"version"}), message=text)
    spec = spec.model_copy(update={"version": number})
    reply = "; ".join(diff(current, spec)) or "no change"
    project.db.add_turn("assistant", reply, number)
    return spec
