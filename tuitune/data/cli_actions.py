"""What the ``tuitune dataset`` commands do: the same engine calls the app's dataset screen makes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tuitune.cli import UserError


def import_command(args: argparse.Namespace) -> int:
    from tuitune.data.importer import iter_import

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
    for skipped in report.skipped:
        print(f"  skipped {skipped.path}: {skipped.reason}")
    for warning in report.warnings:
        print(f"  note: {warning}")
    return 0


def detect_command(args: argparse.Namespace) -> int:
    from tuitune.data.concepts import DetectSettings, VisionBackends, iter_detect

    spec = load_spec(args.into, args.spec)
    vision = _vision_settings(args.into)
    regions = _regions(args.regions) if args.regions else []
    # The embedder only compares instances with reference regions: without any, it is not loaded at all.
    wants_embedder = bool(regions) and any(c.references for c in spec.concepts)
    backends = VisionBackends.load(
        args.detector or vision.get("detector", "toyworld"),
        args.segmenter or vision.get("segmenter", "toyworld"),
        (args.embedder or vision.get("embedder") or "toyworld") if wants_embedder else None,
    )
    settings = DetectSettings(similarity_threshold=args.threshold, min_score=args.min_score)
    for event in iter_detect(args.into, spec, backends, regions, settings):
        found = ", ".join(f"{k}: {v}" for k, v in event.found.items())
        print(f"[{event.done}/{event.total}] {event.stem}  {found}")
    return 0


def review_command(args: argparse.Namespace) -> int:
    from tuitune.data.concepts import set_decision

    path = set_decision(args.into, args.stem, args.concept, args.instance, args.decision == "accept")
    print(f"{args.decision}ed; mask rewritten: {path}")
    return 0


def augment_command(args: argparse.Namespace) -> int:
    from tuitune.data.augment import AugmentSettings, augment

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

    spec = load_spec(args.into, args.spec, required=False)
    report = export(args.into, args.out, spec, include_derived=not args.originals_only, overwrite=args.overwrite)
    print(f"{report.images} images and {report.masks} masks in {report.folder}")
    for group, count in sorted(report.groups.items()):
        print(f"  {group}/: {count}")
    return 0


def load_spec(root: str, spec_file: str | None, required: bool = True) -> Any:
    from pydantic import ValidationError

    from tuitune.intent.spec import IntentSpec

    if spec_file:
        path = Path(spec_file).expanduser()
        try:
            return IntentSpec.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"Spec file {path} does not exist; check the path.") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UserError(f"Spec file {path} is not a valid IntentSpec ({first['msg']}); fix it and retry.") from None
    if (Path(root) / "project.toml").exists():
        from tuitune.project.project import Project

        with Project.open(root, readonly=True) as project:
            latest = project.db.latest_spec()
        if latest is not None:
            return IntentSpec.from_json(latest.spec_json)
    if required:
        raise UserError("No intent spec: pass --spec FILE.json or state your intent in the project first.")
    return None


def _vision_settings(root: str) -> dict[str, str]:
    if not (Path(root) / "project.toml").exists():
        return {}
    from tuitune.project.project import Project

    with Project.open(root, readonly=True) as project:
        return project.settings.vision.model_dump()


def _regions(path: str) -> list[Any]:
    try:
        rows = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"Cannot read regions file {path} ({exc}); give a JSON list of {{number, image, box}}.") from None
    return [SimpleNamespace(number=int(r["number"]), image=str(r["image"]), box=tuple(r["box"])) for r in rows]
