"""``tuitune eval RUN``: evaluate a run's checkpoints against the intent and recommend one."""

from __future__ import annotations

import argparse

from tuitune.cli.lazy import lazy


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score a run's checkpoints against the intent and recommend one",
        description="Draw base and LoRA samples on held-out prompts for each checkpoint, compute keep fidelity, "
        "modify flexibility, delete absence and drift, append them to RUN/eval.jsonl and recommend a checkpoint.",
    )
    p.add_argument("run", help="the training run folder")
    p.add_argument("--checkpoint", type=int, action="append", metavar="STEP",
                   help="evaluate only this step (repeatable); default: every checkpoint and the final LoRA")
    p.add_argument("--spec", help="IntentSpec JSON or a text file stating the intent in words (default: "
                   "RUN/spec.json, then the project spec the run trained on)")
    p.add_argument("--detector", help="detector backend name, e.g. toyworld, owlv2")
    p.add_argument("--segmenter", help="segmenter backend name, e.g. toyworld, sam, box")
    p.add_argument("--embedder", help="embedder backend name, e.g. toyworld, open_clip")
    p.add_argument("--seed", type=int, action="append", dest="seeds", metavar="N", help="seed (repeatable)")
    p.add_argument("--steps", type=int, help="sampling steps (default: the run's [samples] steps)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the run's [samples] guidance)")
    p.add_argument("--detach", action="store_true", help="run as a background job that outlives the terminal")
    p.add_argument("--json", action="store_true", help="print the rows as JSON lines instead of a table")
    p.set_defaults(handler=lazy("tuitune.evaluate.eval_command:main"))
