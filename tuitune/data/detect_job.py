"""The ``detect`` job: find the spec's concepts in a project's dataset, write masks, mirror them to the DB.

run.toml ``[detect]`` is a ``DetectRequest``; unset backends and thresholds come from the project's
``[vision]`` settings. ``detect_request`` builds one from the user's choices and ``submit`` freezes it (spec
version, backends, thresholds as resolved now) and queues it, for the Concepts screen (ctrl+d) and
``tuitune dataset detect --detach`` alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tuitune.errors import UserError

# Backends that never touch a GPU: a job using only these need not wait for the GPU queue.
CPU_BACKENDS = frozenset({"toyworld", "analytic", "whole-image", "box", "colour-histogram"})


class DetectRequest(BaseModel):
    """What to detect where; ``None`` means "the project's setting"."""

    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(
        default=None, description="Absolute path of the project folder; default the project holding the run."
    )
    spec_version: int | None = Field(default=None, ge=1, description="Spec version; default the latest.")
    spec: str | None = Field(default=None, description="An IntentSpec JSON file instead of the project's spec.")
    regions: str | None = Field(default=None, description="A JSON regions file instead of the project's regions.")
    detector: str | None = None
    segmenter: str | None = None
    embedder: str | None = None
    threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)
    concepts: list[str] | None = Field(default=None, description="Only these concepts; default all.")


def detect_request(project: str | Path, spec_version: int | None = None, spec: str | None = None,
                   regions: str | None = None, detector: str | None = None, segmenter: str | None = None,
                   embedder: str | None = None, threshold: float | None = None,
                   min_score: float | None = None) -> DetectRequest:
    """The request for detecting in ``project`` with what the user chose (None: the project's setting).

    The project, spec and regions files are made absolute: the job runs in its run folder, not where the user
    typed them. Raises pydantic's ValidationError for a value out of range (the caller names its option).
    """

    def absolute(path: str | Path | None) -> str | None:
        return str(Path(path).expanduser().resolve()) if path else None

    return DetectRequest(
        project=absolute(project), spec_version=spec_version, spec=absolute(spec), regions=absolute(regions),
        detector=detector, segmenter=segmenter, embedder=embedder, threshold=threshold, min_score=min_score,
    )


@dataclass
class DetectPlan:
    """A request resolved against the project: everything ``iter_detect`` needs."""

    root: Path
    spec: Any  # IntentSpec
    regions: list[Any]
    detector: str
    segmenter: str
    embedder: str | None
    threshold: float
    min_score: float

    @property
    def uses_gpu(self) -> bool:
        names = [self.detector, self.segmenter, *([self.embedder] if self.embedder else [])]
        return not all(name in CPU_BACKENDS for name in names)

    def frozen(self, request: DetectRequest) -> DetectRequest:
        """``request`` with what it resolved to now: the spec version (unless a spec file is named), the backends
        and thresholds, so run.toml says what the run detects with even when project.toml changes meanwhile."""
        return request.model_copy(update={
            "project": str(self.root),
            "spec_version": request.spec_version if request.spec else self.spec.version,
            "detector": self.detector, "segmenter": self.segmenter, "embedder": self.embedder,
            "threshold": self.threshold, "min_score": self.min_score,
        })


def plan(request: DetectRequest) -> DetectPlan:
    """Resolve the request: spec, reference regions and backends from the project unless given."""
    from tuitune.intent.loaders import load_regions_file, load_spec
    from tuitune.intent.project_link import load_regions
    from tuitune.project.project import Project, is_project

    if request.project is None:
        raise UserError("The detect request names no project; give [detect] project = \"/path/to/project\".")
    root = Path(request.project).expanduser().resolve()
    if not is_project(root):
        raise UserError(f"{root} is not a tuitune project; give the project folder (the one with project.toml).")
    spec = load_spec(str(root), request.spec, version=request.spec_version)
    with Project.open(root, readonly=True) as project:
        vision = project.settings.vision
        regions = load_regions_file(request.regions) if request.regions else load_regions(project)
    # The embedder only compares instances with reference regions: without any, it is not loaded at all.
    wants_embedder = bool(regions) and any(c.references for c in spec.concepts)
    return DetectPlan(
        root=root,
        spec=spec,
        regions=list(regions),
        detector=request.detector or vision.detector,
        segmenter=request.segmenter or vision.segmenter,
        embedder=(request.embedder or vision.embedder) if wants_embedder else None,
        threshold=vision.similarity_threshold if request.threshold is None else request.threshold,
        min_score=vision.min_score if request.min_score is None else request.min_score,
    )


def folder_plan(folder: str | Path, spec: str | None = None, regions: str | None = None, detector: str | None = None,
                segmenter: str | None = None, embedder: str | None = None, threshold: float | None = None,
                min_score: float | None = None) -> DetectPlan:
    """The plan for a dataset folder that is not a project: the spec and regions files as given, toyworld backends
    and the default thresholds unless named."""
    from tuitune.data.concepts import DetectSettings
    from tuitune.intent.loaders import load_regions_file, load_spec

    loaded = load_spec(str(folder), spec)
    references = load_regions_file(regions) if regions else []
    wants_embedder = bool(references) and any(c.references for c in loaded.concepts)
    return DetectPlan(
        root=Path(folder).expanduser().resolve(),
        spec=loaded,
        regions=list(references),
        detector=detector or "toyworld",
        segmenter=segmenter or "toyworld",
        embedder=(embedder or "toyworld") if wants_embedder else None,
        threshold=DetectSettings().similarity_threshold if threshold is None else threshold,
        min_score=min_score or 0.0,
    )


def run(ctx: Any) -> None:
    """Job entry point (``[job] kind = "detect"``): progress per image, STOP honoured between images."""
    from tuitune.data.concepts import DetectSettings, VisionBackends, iter_detect

    try:
        request = DetectRequest.model_validate(ctx.job_config().get("detect", {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "detect"
        raise UserError(f"run.toml [detect] {where}: {first['msg']}; fix that key and resubmit.") from None
    if request.project is None:
        # A run queued in a project's runs/ (as the app does) detects in that project.
        request = request.model_copy(update={"project": str(ctx.run.path.resolve().parents[1])})
    job = plan(request)
    backends = VisionBackends.load(job.detector, job.segmenter, job.embedder)
    settings = DetectSettings(similarity_threshold=job.threshold, min_score=job.min_score)
    ctx.event("detect_plan", spec_version=job.spec.version, detector=job.detector, segmenter=job.segmenter,
              embedder=job.embedder, threshold=job.threshold, concepts=[c.name for c in job.spec.concepts])
    totals: dict[str, dict[str, int]] = {}
    kept = 0
    events = iter_detect(job.root, job.spec, backends, job.regions, settings, request.concepts, delegate=True)
    started = False
    try:
        for event in events:
            if not started:
                ctx.started(total_steps=event.total)
                started = True
            ctx.progress(event.done, message=event.stem)
            kept += event.decisions_kept
            for concept, accepted in event.found.items():
                row = totals.setdefault(concept, {"images": 0, "instances": 0})
                row["images"] += 1 if accepted else 0
                row["instances"] += accepted
            ctx.log_metric({"step": event.done, "image": event.stem, **{f"found/{k}": v for k, v in event.found.items()}})
            if ctx.poll() is not None and ctx.stopped:
                break
    finally:
        events.close()  # writes masks.json and the project database for the images done so far
    if not started:
        ctx.started(total_steps=0)
    for concept in job.spec.concepts:
        if request.concepts is not None and concept.key not in {n.casefold() for n in request.concepts}:
            continue
        row = totals.get(concept.name, {"images": 0, "instances": 0})
        ctx.event("concept_detected", concept=concept.name, operation=concept.operation.value,
                  images=row["images"], instances=row["instances"])
    if kept:
        ctx.event("decisions_kept", count=kept,
                  message=f"kept {kept} decision(s) you made by hand (and imported masks) from before")


def submit(request: DetectRequest, name: str | None = None) -> Any:
    """Queue the request as a job in the project's ``runs/``; returns its RunDir."""
    from tuitune.jobs.queue import submit as submit_run

    job = plan(request)  # fail here, in the user's terminal, rather than in the worker
    config = {"detect": job.frozen(request).model_dump(mode="json", exclude_none=True)}
    return submit_run(job.root / "runs", "detect", config, name=name, gpu=job.uses_gpu)
