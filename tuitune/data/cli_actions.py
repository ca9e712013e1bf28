"""What the ``tuitune dataset`` commands do: the same engine calls the app's dataset screen makes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tuitune.errors import UserError
from tuitune.intent.loaders import load_regions_file, load_spec


def import_command(args: argparse.Namespace) -> int:
    from tuitune.data.importer import iter_import

    check_files(args.into)
    report = None
    for event in iter_import(args.source, args.into, max_pixels=args.max_pixels,
                             make_thumbnails=not args.no_thumbnails):
        report = event.report
        if event.done % 50 == 0 and sys.stderr.isatty():
            print(f"\r{event.done} files looked at, {len(report.items)} images", end="", file=sys.stderr)
    if report is None:
        print("no pictures found")
        return 0
    print(f"\n{len(report.items)} images in {Path(args.into).resolve()}; "
          f"{len(report.duplicates)} duplicates, {len(report.skipped)} skipped")
    for dropped, kept in report.duplicates:
        print(f"  duplicate {dropped}: the same pixels as {kept}, kept once")
    for skipped in report.skipped:
        print(f"  skipped {skipped.path}: {skipped.reason}")
    for warning in report.warnings:
        print(f"  note: {warning}")
    return 0


def detect_command(args: argparse.Namespace) -> int:
    from tuitune.data.concepts import DetectSettings, VisionBackends, iter_detect
    from tuitune.project.project import is_project

    check_files(args.into)
    if is_project(args.into):
        from pydantic import ValidationError

        from tuitune.data.detect_job import detect_request, plan, submit

        try:
            request = detect_request(
                args.into, spec_version=args.spec_version, spec=args.spec, regions=args.regions,
                detector=args.detector, segmenter=args.segmenter, embedder=args.embedder, threshold=args.threshold,
                min_score=args.min_score,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UserError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}.") from None
        if args.detach:
            run = submit(request)
            print(f"detection queued as {run.path}; follow it with `tuitune attach {run.path}`")
            return 0
        job = plan(request)
        spec, regions = job.spec, job.regions
        names = (job.detector, job.segmenter, job.embedder)
        settings = DetectSettings(similarity_threshold=job.threshold, min_score=job.min_score)
    else:
        if args.detach:
            raise UserError(f"{args.into} is not a project, so it has no runs/ for a job; run without --detach.")
        spec = load_spec(args.into, args.spec)
        regions = load_regions_file(args.regions) if args.regions else []
        wants_embedder = bool(regions) and any(c.references for c in spec.concepts)
        names = (args.detector or "toyworld", args.segmenter or "toyworld",
                 (args.embedder or "toyworld") if wants_embedder else None)
        defaults = DetectSettings()
        settings = DetectSettings(
            similarity_threshold=defaults.similarity_threshold if args.threshold is None else args.threshold,
            min_score=args.min_score or 0.0,
        )
    backends = VisionBackends.load(*names)
    kept = 0
    for event in iter_detect(args.into, spec, backends, regions, settings):
        found = ", ".join(f"{k}: {v}" for k, v in event.found.items())
        kept += event.decisions_kept
        print(f"[{event.done}/{event.total}] {event.stem}  {found}")
    if kept:
        print(f"kept {kept} decision(s) you made by hand (and imported masks) from before")
    return 0


def review_command(args: argparse.Namespace) -> int:
    from tuitune.data.concepts import set_decision

    check_files(args.into)
    path = set_decision(args.into, args.stem, args.concept, args.instance, args.decision == "accept")
    print(f"{args.decision}ed; mask rewritten: {path}")
    return 0


def augment_command(args: argparse.Namespace) -> int:
    from tuitune.data.augment import AugmentSettings, augment

    check_files(args.into, masks=False)
    spec = load_spec(args.into, args.spec)
    made = augment(args.into, spec, AugmentSettings(seed=args.seed, keep_crops=args.keep_crops,
                                                    modify_variations=args.modify_variations))
    counts: dict[str, int] = {}
    for item in made:
        counts[item.provenance["operation"]] = counts.get(item.provenance["operation"], 0) + 1
    print(f"{len(made)} derived items: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


def export_command(args: argparse.Namespace) -> int:
    from tuitune.data.export import export

    check_files(args.into, masks=False)
    spec = load_spec(args.into, args.spec, required=False)
    report = export(args.into, args.out, spec, include_derived=not args.originals_only, overwrite=args.overwrite)
    print(f"{report.images} images and {report.masks} masks in {report.folder}")
    if report.left_out:
        print(f"  {report.left_out} disabled or held-out items left out")
    for group, count in sorted(report.groups.items()):
        print(f"  {group}/: {count}")
    return 0


def check_files(into: str, masks: bool = True) -> None:
    """Read each file of the dataset or project folder ``into`` the command reads or changes (project.toml,
    tuitune.db, dataset.json, and masks.json when ``masks``) before it changes any: a damaged one stops the
    command with its sentence before a picture, mask or JSON file is written, never halfway."""
    from tuitune.data.dataset import Dataset
    from tuitune.project.project import check_files as check_project_files
    from tuitune.project.project import is_project

    if is_project(into):
        check_project_files(into)
    dataset = Dataset(Path(into).expanduser())
    dataset.items()
    if masks:
        dataset.masks_index()
