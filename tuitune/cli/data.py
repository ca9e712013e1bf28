"""`tuitune dataset import|detect|augment|export|review` (argparse only at import time)."""

from __future__ import annotations

import argparse

from tuitune.cli.lazy import lazy


def register(subparsers: argparse._SubParsersAction) -> None:
    dataset = subparsers.add_parser("dataset", help="import pictures, find concepts, augment, export")
    sub = dataset.add_subparsers(dest="dataset_command", metavar="ACTION")

    imp = sub.add_parser("import", help="import a folder (plain or kohya N_name/) into a dataset folder")
    imp.add_argument("source", help="folder of pictures (searched recursively)")
    imp.add_argument("--into", default=".", help="dataset or project folder (default: here)")
    imp.add_argument("--max-pixels", type=int, default=50_000_000, help="refuse pictures above this many pixels")
    imp.add_argument("--no-thumbnails", action="store_true", help="skip making preview thumbnails")
    imp.set_defaults(handler=lazy("tuitune.data.cli_actions:import_command"))

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
    det.set_defaults(handler=lazy("tuitune.data.cli_actions:detect_command"))

    rev = sub.add_parser("review", help="accept or reject one detected instance")
    rev.add_argument("stem")
    rev.add_argument("concept")
    rev.add_argument("instance", type=int)
    rev.add_argument("decision", choices=["accept", "reject"])
    rev.add_argument("--into", default=".", help="dataset or project folder (default: here)")
    rev.set_defaults(handler=lazy("tuitune.data.cli_actions:review_command"))

    aug = sub.add_parser("augment", help="write derived items per operation (keep crops, modify colours, delete)")
    aug.add_argument("--into", default=".", help="dataset or project folder (default: here)")
    aug.add_argument("--spec", help="IntentSpec JSON file (default: the project's latest spec)")
    aug.add_argument("--seed", type=int, default=0)
    aug.add_argument("--keep-crops", type=int, default=2)
    aug.add_argument("--modify-variations", type=int, default=2)
    aug.set_defaults(handler=lazy("tuitune.data.cli_actions:augment_command"))

    exp = sub.add_parser("export", help="write a kohya-style folder (N_name/, .txt captions, masks/, loss table)")
    exp.add_argument("out", help="folder to create")
    exp.add_argument("--into", default=".", help="dataset or project folder (default: here)")
    exp.add_argument("--spec", help="IntentSpec JSON file (default: the project's latest spec)")
    exp.add_argument("--originals-only", action="store_true", help="leave the augmented items out")
    exp.add_argument("--overwrite", action="store_true", help="replace OUT if it is not empty")
    exp.set_defaults(handler=lazy("tuitune.data.cli_actions:export_command"))
    dataset.set_defaults(handler=lambda args: dataset.print_help())
