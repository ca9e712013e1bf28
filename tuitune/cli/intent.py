"""CLI twins of the intent screen: ``tuitune intent`` (parse, show, store) and ``tuitune captions`` (preview and
write captions)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

    from tuitune.intent.regions import Region
    from tuitune.intent.spec import IntentSpec


def register(subparsers: argparse._SubParsersAction) -> None:
    intent = subparsers.add_parser(
        "intent",
        help="turn what the LoRA should learn (keep / change / remove) into an intent spec",
        description='Example: tuitune intent "call it zxq; keep her face [1]; remove the watermark" '
        "--ref ref.png:10,10,60,60",
    )
    intent.add_argument("text", help="what to keep, change or remove, in your own words")
    intent.add_argument("--ref", action="append", default=[], metavar="IMG:x0,y0,x1,y1",
                        help="a reference region; the first is [1], the next [2] ...")
    intent.add_argument("--backend", choices=["rules", "ollama", "local"], default=None,
                        help="parser: offline rules (default), an Ollama server, or a local model")
    intent.add_argument("--model", help="Ollama model name, or a local model folder / .gguf file")
    intent.add_argument("--host", help="Ollama server (default http://127.0.0.1:11434)")
    intent.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for a model")
    intent.add_argument("--spec", metavar="SPEC.json", help="refine this spec instead of starting anew")
    intent.add_argument("--out", metavar="SPEC.json", help="also write the spec to this file")
    intent.add_argument("--json", action="store_true", help="print the spec as JSON")
    intent.add_argument("--project", metavar="DIR", help="refine the project's spec and store the new version")
    intent.set_defaults(handler=run_intent)

    captions = subparsers.add_parser(
        "captions", help="rewrite captions from an intent spec (trigger first, deleted concepts stripped)"
    )
    captions.add_argument("folder", help="folder of images with .txt captions beside them")
    captions.add_argument("--spec", required=True, metavar="SPEC.json", help="the intent spec to apply")
    captions.add_argument("--dry-run", action="store_true", help="only print old -> new")
    captions.add_argument("--json", action="store_true", help="print the changes as JSON")
    captions.set_defaults(handler=run_captions)


def load_spec(path: str | Path) -> IntentSpec:
    from tuitune.intent.errors import IntentError
    from tuitune.intent.spec import IntentSpec

    try:
        return IntentSpec.from_json(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IntentError(f"Spec file {path} does not exist; create one with `tuitune intent ... --out`.") from exc
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise IntentError(f"Spec file {path} is not a valid intent spec ({first}); fix or recreate it.") from exc


def spec_table(spec: IntentSpec) -> Table:
    from rich.table import Table

    from tuitune.intent.spec import is_dont_care

    table = Table(title=f"Intent spec v{spec.version}: trigger {', '.join(spec.trigger_words) or '(none yet)'}"
                  + (f" - {spec.domain}" if spec.domain else ""))
    for column in ("concept", "granularity", "operation", "regions", "value", "may become"):
        table.add_column(column)
    for c in spec.concepts:
        operation = c.operation.value + (" (doesn't matter)" if is_dont_care(c) else "")
        table.add_row(c.name, c.granularity.value, operation, " ".join(f"[{r}]" for r in c.references),
                      c.value or "", ", ".join(c.alternatives))
    return table


def run_intent(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tuitune import atomic
    from tuitune.intent.backends import make_parser
    from tuitune.intent.regions import parse_refs
    from tuitune.intent.spec import diff

    console = Console()
    project = None
    current = load_spec(args.spec) if args.spec else None
    regions: list[Region] = []
    backend, model, host = args.backend, args.model, args.host
    if args.project:
        from tuitune.intent.project_link import open_project, project_state

        project = open_project(args.project)
        current, regions, settings = project_state(project, current)
        backend = backend or settings.get("backend")
        model = model or settings.get("model") or None
        host = host or settings.get("host")
    regions += parse_refs(args.ref, start=max((r.number for r in regions), default=0) + 1)
    try:
        parser = make_parser(backend or "rules", model=model, host=host, timeout=args.timeout)
        stream = (lambda piece: print(piece, end="", file=sys.stderr, flush=True)) if not args.json else None
        spec = parser.parse(args.text, current, regions, stream if backend in {"ollama", "local"} else None)
        if stream and backend in {"ollama", "local"}:
            print(file=sys.stderr)
        if project is not None:
            from tuitune.intent.project_link import store

            spec = store(project, args.text, spec, current, regions[-len(args.ref):] if args.ref else [])
    finally:
        if project is not None:
            project.close()
    if args.out:
        atomic.write_text(args.out, spec.to_json() + "\n")
    if args.json:
        print(spec.to_json())
        return 0
    console.print(spec_table(spec))
    for line in diff(current, spec) if current else []:
        console.print(f"  changed: {line}", markup=False)
    if not spec.trigger_words:
        console.print("No trigger word yet: add one, e.g. 'call it zxq'.", markup=False)
    return 0


def run_captions(args: argparse.Namespace) -> int:
    from tuitune.intent import captions as caption_optimiser
    from tuitune.intent.errors import IntentError

    spec = load_spec(args.spec)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise IntentError(f"{folder} is not a folder; give the folder that holds the images and .txt captions.")
    changes = caption_optimiser.preview(folder, spec)
    if not changes:
        raise IntentError(f"No images (.png, .jpg, .webp) in {folder}; check the folder.")
    if args.json:
        print(json.dumps([{"image": str(c.image), "old": c.old, "new": c.new} for c in changes], indent=2))
    else:
        for change in changes:
            mark = "" if change.changed else "  (unchanged)"
            print(f"{change.image.name}: {change.old!r} -> {change.new!r}{mark}")
    if args.dry_run:
        return 0
    written = caption_optimiser.write(changes)
    print(f"wrote {written} caption file(s)", file=sys.stderr)
    return 0
