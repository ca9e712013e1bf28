"""``tuitune generate``: base and LoRA images with the same prompt and seed, side by side."""

from __future__ import annotations

import argparse

from tuitune.cli.lazy import lazy


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="draw base and LoRA images with the same prompt and seed",
        description="Draw each prompt with each seed by the base model and with the LoRA (same prompt, "
        "negative, seed, steps, guidance). PNGs carry A1111 'parameters'; a JSON record per generation.",
    )
    p.add_argument("prompt", nargs="+", help="one or more prompts")
    p.add_argument("--model",
                   help="base model: diffusers folder, .safetensors file, or toyworld (the shipped model); "
                   "default with --project: the project's")
    p.add_argument("--lora", help="LoRA .safetensors file, checkpoint folder or run folder")
    p.add_argument("--negative", default="", help="negative prompt")
    p.add_argument("--seed", type=int, action="append", dest="seeds", metavar="N", help="seed (repeatable)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--scale", type=float, default=1.0, help="LoRA scale")
    p.add_argument("--sampler", default="euler", choices=["euler", "euler_a", "ddim", "dpmpp_2m"])
    p.add_argument("--size", type=int, help="width and height in pixels (multiple of 8)")
    p.add_argument("--out", help="output folder (default: ./generations)")
    p.add_argument("--project", help="queue it as a generate job of this project, as the app's Generate screen "
                   "does: its base model, pictures in its generations/")
    p.add_argument("--detach", action="store_true", help="with --project: queue the job and return at once")
    p.set_defaults(handler=lazy("tuitune.generate.generate_command:main"))
