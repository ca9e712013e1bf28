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
    p.add_argument("--model", required=True,
                   help="base model: diffusers folder, .safetensors file, or toyworld (the shipped model)")
    p.add_argument("--lora", help="LoRA .safetensors file, checkpoint folder or run folder")
    p.add_argument("--negative", default="", help="negative prompt")
    p.add_argument("--seed", type=int, action="append", dest="seeds", metavar="N", help="seed (repeatable)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--scale", type=float, default=1.0, help="LoRA scale")
    p.add_argument("--sampler", default="euler", choices=["euler", "euler_a", "ddim", "dpmpp_2m"])
    p.add_argument("--size", type=int, help="width and height in pixels (multiple of 8)")
    p.add_argument("--out", default="generations", help="output folder (default: ./generations)")
    p.set_defaults(handler=lazy("tuitune.generate.generate_command:main"))
