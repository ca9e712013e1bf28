"""`tuitune dataset import|detect|augment|export|review`: the same engine calls the app's dataset screen makes
(imported when the action runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tuitune.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    dataset = subparsers.add_parser("dataset", help="import pictures, find concepts, augment, export")
    sub = dataset.add_subparsers(dest="dataset_command", metavar="ACTION")

    imp = sub.add_parser("import", help="import a folder (plain or kohya N_name/) into a dataset folder")
    imp.add_argument("source", help="folder of pictures (searched recursively)")
    imp.add_argument("--into", default=".", help="dataset or project folder (default: here)")
    imp.add_argument("--max-pixels", type=int, default=50_000_000, help="refuse pictures above this many pixels")
    imp.add_argument("--no-thumbnails", action="store_true", help="skip making preview thumbnails")
    imp.set_defaults(handler=import_command)

    det = sub.add_parser("detect", help="find every concept of the spec in every image and write masks")
    det.add_argument("--into", default=".", help="dataset or project folder (default: here)")
    det.add_argument("--spec", help="IntentSpec JSON file (default: the project's latest spec)")
    det.add_argument("--regions", help="JSON list of reference regions {number, image, box}")
    det.add_argument("--detector", help="detector name or folder (default: project setting, else toyworld)")
    det.add_argument("--segmenter", help="segmenter name or weights file (default: project setting)")
    det.add_argument("--embedder", help="embedder name or weights (default: project setting)")
    det.add_argument("--spec-version", type=int, help="the project's spec version to use (default: latest)")
    det.add_argument("--threshold", type=float,
                     help="reference similarity needed to accept (default: project setting, else 0.8)")
    det.add_argument("--min-score", type=float, help="drop detections scoring below this (default: project setting)")
    det.add_argument("--detach", action="store_true",
                     help="run as a background job in the project's runs/ (outlives the terminal)")
    det.set_defaults(handler=detect_command)

    rev = sub.add_parser("review", help="accept or reject one detected instance")
    rev.add_argument("stem")
    rev.add_argument("concept")
    rev.add_argument("instance", type=int)
    rev.add_argument("decision", choices=["accept", "reject"])
    rev.add_argument("--into", default=".", help="dataset or project folder (default: here)")
    rev.set_defaults(handler=review_command)

    aug = sub.add_parser("augment", help="write derived items per operation (keep crops, modify colours, delete)")
    aug.add_argument("--into", default=".", help="dataset or project folder (default: here)")
    aug.add_argument("--spec", help="IntentSpec JSON file (default: the project's latest spec)")
    aug.add_argument("--seed", type=int, default=0)
    aug.add_argument("--keep-crops", type=int, default=2)
    aug.add_argument("--modify-variations", type=int, default=2)
    aug.set_defaults(handler=augment_command)

    exp = sub.add_parser("export", help="write a kohya-style folder (N_name/, .txt captions, masks/, loss table)")
    exp.add_argument("out", help="folder to create")
    exp.add_argument("--into", default=".", help="dataset or project folder (default: here)")
    exp.add_argument("--spec", help="IntentSpec JSON file (default: the project's latest spec)")
    exp.add_argument("--originals-only", action="store_true", help="leave the augmented items out")
    exp.add_argument("--overwrite", action="store_true", help="replace OUT if it is not empty")
    exp.set_defaults(handler=export_command)
    dataset.set_defaults(handler=lambda args: dataset.print_help())


def import_command(args: argparse.Namespace) -> int:
    from tuitune.data.dataset import check_files
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
    from tuitune.data.dataset import check_files
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
    else:
        if args.detach:
            raise UserError(f"{args.into} is not a project, so it has no runs/ for a job; run without --detach.")
        from tuitune.data.detect_job import folder_plan

        job = folder_plan(args.into, spec=args.spec, regions=args.regions, detector=args.detector,
                          segmenter=args.segmenter, embedder=args.embedder, threshold=args.threshold,
                          min_score=args.min_score)
    settings = DetectSettings(similarity_threshold=job.threshold, min_score=job.min_score)
    backends = VisionBackends.load(job.detector, job.segmenter, job.embedder)
    kept = 0
    for event in iter_detect(args.into, job.spec, backends, job.regions, settings):
        found = ", ".join(f"{k}: {v}" for k, v in event.found.items())
        kept += event.decisions_kept
        print(f"[{event.done}/{event.total}] {event.stem}  {found}")
    if kept:
        print(f"kept {kept} decision(s) you made by hand (and imported masks) from before")
    return 0


def review_command(args: argparse.Namespace) -> int:
    from tuitune.data.concepts import set_decision
    from tuitune.data.dataset import check_files

    check_files(args.into)
    path = set_decision(args.into, args.stem, args.concept, args.instance, args.decision == "accept")
    print(f"{args.decision}ed; mask rewritten: {path}")
    return 0


def augment_command(args: argparse.Namespace) -> int:
    from tuitune.data.augment import AugmentSettings, augment
    from tuitune.data.dataset import check_files
    from tuitune.intent.loaders import load_spec

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
    from tuitune.data.dataset import check_files
    from tuitune.data.export import export
    from tuitune.intent.loaders import load_spec

    check_files(args.into, masks=False)
    spec = load_spec(args.into, args.spec, required=False)
    report = export(args.into, args.out, spec, include_derived=not args.originals_only, overwrite=args.overwrite)
    print(f"{report.images} images and {report.masks} masks in {report.folder}")
    if report.left_out:
        print(f"  {report.left_out} disabled or held-out items left out")
    for group, count in sorted(report.groups.items()):
        print(f"  {group}/: {count}")
    return 0
