"""`tuitune models list|get NAME`: show and fetch the vision weights."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="list or download vision model weights")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION")
    listing = sub.add_parser("list", help="known models and whether they are on this machine")
    listing.set_defaults(handler=list_models)
    get = sub.add_parser("get", help="download a model with its library's own download code (needs internet)")
    get.add_argument("name", help="model name, see `tuitune models list`")
    get.add_argument("--dest", help="where to put it (default: the models folder, or $TUITUNE_MODELS)")
    get.set_defaults(handler=get_model)
    models.set_defaults(handler=list_models)


def list_models(args: argparse.Namespace) -> int:
    from tuitune.vision.weights import KNOWN_MODELS, default_path, models_dir

    print(f"models folder: {models_dir()}")
    for model in KNOWN_MODELS.values():
        if model.kind == "bundled":
            here = "bundled"
        else:
            here = "present" if default_path(model.name).exists() else "missing"
        print(f"  {model.name:<22} {here:<8} {model.about}")
    return 0


def get_model(args: argparse.Namespace) -> int:
    from tuitune.vision.weights import fetch

    path = fetch(args.name, Path(args.dest).expanduser() if args.dest else None)
    print(f"{args.name}: {path}")
    return 0
