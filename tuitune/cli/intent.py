"""CLI twins of the intent screen: ``tuitune intent`` and ``tuitune captions``."""

from __future__ import annotations

import argparse

from tuitune.cli.lazy import lazy


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
    intent.set_defaults(handler=lazy("tuitune.intent.cli_run:run_intent"))

    captions = subparsers.add_parser(
        "captions", help="rewrite captions from an intent spec (trigger first, deleted concepts stripped)"
    )
    captions.add_argument("folder", help="folder of images with .txt captions beside them")
    captions.add_argument("--spec", required=True, metavar="SPEC.json", help="the intent spec to apply")
    captions.add_argument("--dry-run", action="store_true", help="only print old -> new")
    captions.add_argument("--json", action="store_true", help="print the changes as JSON")
    captions.set_defaults(handler=lazy("tuitune.intent.cli_run:run_captions"))
