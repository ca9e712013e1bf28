"""Where an evaluation gets its intent: a spec or intent-text file, the run's spec.json, or the run's project."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tuitune.errors import UserError
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec
from tuitune.jobs.rundir import RunDir


@dataclass
class IntentSource:
    spec: IntentSpec
    origin: str  # "spec.json in the run", "project spec version 3", "intent text read by the rules parser"...
    regions: list[Region] = field(default_factory=list)
    project_root: Path | None = None


def project_of(run: RunDir) -> Path | None:
    """The project a run belongs to (``PROJECT/runs/NAME``), or None for a stand-alone run folder."""
    root = run.path.resolve().parent.parent
    return root if run.path.resolve().parent.name == "runs" and (root / "project.toml").is_file() else None


def read_spec_file(path: Path) -> tuple[IntentSpec, str]:
    """An IntentSpec JSON file, or a plain-text intent ("zxq is my character ...") read by the rules parser."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"Spec file {path} does not exist; check the --spec path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Spec file {path} cannot be read ({exc}); pass an IntentSpec JSON or intent text.") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            return IntentSpec.from_json(text), f"spec file {path}"
        except ValueError as exc:
            raise UserError(f"{path} is not a valid intent spec ({str(exc).splitlines()[0]}); fix or replace it.") from None
    from tuitune.intent.errors import IntentError
    from tuitune.intent.rules import RuleParser

    try:
        spec = RuleParser().parse(text, None, [])
    except IntentError as exc:
        raise UserError(f"The intent in {path} could not be read ({exc}).") from None
    return spec, f"intent text {path} read by the rules parser"


def load_intent(run: RunDir, spec_file: str | None = None, spec_version: int | None = None) -> IntentSource:
    """The intent to evaluate against, first found of: ``spec_file``, RUN/spec.json, the project's spec
    ``spec_version`` (the one the run trained on, from run.toml ``[dataset]``) or else its latest.

    The project's numbered reference regions come along whenever the run belongs to a project.
    """
    project_root = project_of(run)
    regions: list[Region] = []
    latest: IntentSpec | None = None
    if project_root is not None:
        regions, latest = _project_intent(project_root, spec_version)
    if spec_file:
        spec, origin = read_spec_file(Path(spec_file).expanduser())
    elif (run.path / "spec.json").is_file():
        try:
            spec = IntentSpec.model_validate(json.loads((run.path / "spec.json").read_text(encoding="utf-8")))
        except ValueError as exc:
            raise UserError(f"{run.path / 'spec.json'} is not a valid intent spec ({str(exc).splitlines()[0]}); "
                            "fix it or pass --spec FILE.") from None
        origin = "spec.json in the run"
    elif latest is not None:
        spec, origin = latest, f"the project's spec version {latest.version}"
    else:
        raise UserError(f"No intent spec found for {run.name}; pass --spec FILE (an IntentSpec JSON or intent text).")
    return IntentSource(spec, origin, regions, project_root)


def _project_intent(root: Path, version: int | None) -> tuple[list[Region], IntentSpec | None]:
    from tuitune.intent.project_link import load_regions, load_spec
    from tuitune.project.project import Project

    try:
        project = Project.open(root, readonly=True)
    except UserError:
        return [], None
    try:
        try:
            latest = load_spec(project, version)
        except Exception:  # an invalid stored spec: the run's own spec.json or --spec still work
            latest = None
        return load_regions(project), latest
    finally:
        project.close()
