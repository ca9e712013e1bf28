"""Handlers of `tuitune models`: list the known weights and fetch one."""

from __future__ import annotations

import argparse
from pathlib import Path

from tuitune.vision.weights import KNOWN_MODELS, default_path, fetch, models_dir


def list_models(args: argparse.Namespace) -> int:
    print(f"models folder: {models_dir()}")
    for model in KNOWN_MODELS.values():
        if model.kind == "bundled":
            here = "bundled"
        else:
            here = "present" if default_path(model.name).exists() else "missing"
        print(f"  {model.name:<22} {here:<8} {model.about}")
    return 0


def get_model(args: argparse.Namespace) -> int:
    path = fetch(args.name, Path(args.dest).expanduser() if args.dest else None)
    print(f"{args.name}: {path}")
    return 0
