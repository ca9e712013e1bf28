"""Reads the intent state from a tuitune project (spec versions, reference regions) and stores new versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuitune.intent.errors import IntentError
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec, diff


def open_project(path: str) -> Any:
    from tuitune.project.project import Project

    return Project.open(path)


def load_spec(project: Any, version: int | None = None) -> IntentSpec | None:
    """Spec ``version`` of the project (default the latest) with its stored number; None when it has none."""
    if version is None:
        stored = project.db.latest_spec()
        if stored is None:
            return None
    else:
        stored = next((s for s in project.db.specs() if s.version == version), None)
        if stored is None:
            have = [s.version for s in project.db.specs()]
            known = f"it has versions {have[0]} to {have[-1]}" if have else "it has no spec yet"
            raise IntentError(f"The project has no spec version {version} ({known}); pick one of those.")
    try:
        return IntentSpec.model_validate({**stored.spec, "version": stored.version})
    except ValueError as exc:
        raise IntentError(
            f"The project's spec version {stored.version} is not valid ({exc}); state the intent again."
        ) from exc


def load_regions(project: Any) -> list[Region]:
    """Every reference region attached to a turn; image paths relative to the project resolve inside it."""
    regions: list[Region] = []
    for turn in project.db.turns():
        for item in turn.attachments:
            if isinstance(item, dict) and {"number", "image", "box"} <= item.keys():
                region = Region.from_dict(item)
                image = Path(region.image).expanduser()
                if not image.is_absolute() and not image.exists() and (project.root / image).exists():
                    region = Region(region.number, str(project.root / image), region.box, region.label)
                regions.append(region)
    return regions


def project_state(project: Any, override: IntentSpec | None) -> tuple[IntentSpec | None, list[Region], dict[str, str]]:
    """(current spec, reference regions from earlier turns, parser settings) of the project."""
    current = override if override is not None else load_spec(project)
    intent = project.settings.intent
    backend = {"transformers": "local"}.get(intent.parser, intent.parser)
    return current, load_regions(project), {"backend": backend, "model": intent.model, "host": intent.ollama_host}


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
