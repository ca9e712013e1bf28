"""The spec and reference regions a command or job reads: the JSON files it names, else the project's."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tuitune.errors import UserError
from tuitune.intent.spec import IntentSpec


def load_spec(root: str, spec_file: str | None, required: bool = True, version: int | None = None) -> IntentSpec | None:
    """The spec from ``spec_file``, else the project's version ``version`` (default latest)."""
    from pydantic import ValidationError

    if spec_file:
        path = Path(spec_file).expanduser()
        try:
            return IntentSpec.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"Spec file {path} does not exist; check the path.") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UserError(f"Spec file {path} is not a valid IntentSpec ({first['msg']}); fix it and retry.") from None
    from tuitune.project.project import Project, is_project

    if is_project(root):
        from tuitune.intent.project_link import load_spec as project_spec

        with Project.open(root, readonly=True) as project:
            spec = project_spec(project, version)
        if spec is not None:
            return spec
    if required:
        raise UserError("No intent spec: pass --spec FILE.json or state your intent in the project first.")
    return None


def load_regions_file(path: str) -> list[Any]:
    """Reference regions from a JSON list of ``{number, image, box}``."""
    try:
        rows = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"Cannot read regions file {path} ({exc}); give a JSON list of {{number, image, box}}.") from None
    return [SimpleNamespace(number=int(r["number"]), image=str(r["image"]), box=tuple(r["box"])) for r in rows]
