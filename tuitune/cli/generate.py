"""``tuitune generate``: base and LoRA images with the same prompt and seed, side by side: validate the options,
draw the batch here (or queue it in a project, as the Generate screen does), print where it went."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tuitune.errors import UserError

if TYPE_CHECKING:
    from tuitune.generate.batch import GenerateRequest


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
    p.set_defaults(handler=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    from tuitune.generate.batch import GenerateRequest, generate_batch

    if args.project:
        return queue_in_project(args)
    if args.model is None:
        raise UserError("--model is required without --project; name a diffusers folder, a .safetensors file or "
                        "toyworld.")
    if args.detach:
        raise UserError("--detach queues a job in a project; give --project PROJECT too.")
    out = args.out or "generations"
    request = checked(lambda: GenerateRequest(model=args.model, lora=args.lora, prompts=args.prompt, output=out,
                                              **options(args)), args)

    def progress(done: int, total: int) -> None:
        print(f"{done}/{total}", file=sys.stderr)

    records = generate_batch(request, progress=progress)
    for record in records:
        print(f"{record.id}: " + "  ".join(f"{role}={out}/{name}" for role, name in record.images.items()))
    return 0


def queue_in_project(args: argparse.Namespace) -> int:
    """``--project PROJECT``: the request the Generate screen makes for the same values, queued as a job there."""
    from tuitune.generate.request import generate_request, submit
    from tuitune.project.project import is_project

    if not is_project(args.project):
        raise UserError(f"{args.project} is not a tuitune project; give the project folder (the one with "
                        "project.toml).")
    if args.out:
        raise UserError("A project's pictures go to its generations/ folder; leave --out out with --project.")
    request = checked(lambda: generate_request(args.project, args.prompt, model=typed_path(args.model),
                                               lora=typed_path(args.lora), **options(args)), args)
    run = submit(args.project, request)
    print(f"{run.name}: {run.state()}; `tuitune attach {run.path}` follows it.")
    if args.detach:
        return 0
    from tuitune.jobs.attach import attach

    print(f"{run.name}: {attach(run)}")
    return 0


def options(args: argparse.Namespace) -> dict:
    """The drawing options, the same whether drawn here or queued in a project."""
    return {"negative": args.negative, "seeds": args.seeds or [0], "steps": args.steps,
            "guidance": args.guidance, "lora_scale": args.scale, "sampler": args.sampler, "width": args.size,
            "height": args.size}


def checked(build: Callable[[], GenerateRequest], args: argparse.Namespace) -> GenerateRequest:
    """The request ``build`` makes, or one sentence naming the bad option."""
    if args.size is not None and args.size % 8:
        raise UserError(f"--size {args.size} is not a multiple of 8; the VAE needs that, try {args.size // 8 * 8 or 8}.")
    try:
        return build()
    except UserError:
        raise
    except ValueError as exc:
        raise UserError(f"Invalid option ({str(exc).splitlines()[0]}).") from None


def typed_path(value: str | None) -> str | None:
    """A path the user typed, relative to where they typed it; a hub id or a name such as toyworld as it is."""
    if value and Path(value).expanduser().exists():
        return str(Path(value).expanduser().resolve())
    return value
