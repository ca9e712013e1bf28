"""`tuitune models list|get NAME`: show and fetch the vision weights (argparse only at import time)."""

from __future__ import annotations

import argparse

from tuitune.cli.lazy import lazy


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="list or download vision model weights")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION")
    listing = sub.add_parser("list", help="known models and whether they are on this machine")
    listing.set_defaults(handler=lazy("tuitune.vision.models_cli:list_models"))
    get = sub.add_parser("get", help="download a model with its library's own download code (needs internet)")
    get.add_argument("name", help="model name, see `tuitune models list`")
    get.add_argument("--dest", help="where to put it (default: the models folder, or $TUITUNE_MODELS)")
    get.set_defaults(handler=lazy("tuitune.vision.models_cli:get_model"))
    models.set_defaults(handler=lazy("tuitune.vision.models_cli:list_models"))
