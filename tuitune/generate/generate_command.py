"""What ``tuitune generate`` does: validate the options, draw the batch here, print where it went."""

from __future__ import annotations

import argparse
import sys

from tuitune.errors import UserError


def main(args: argparse.Namespace) -> int:
    from tuitune.generate.batch import GenerateRequest, generate_batch

    try:
        request = GenerateRequest(
            model=args.model, lora=args.lora, prompts=args.prompt, negative=args.negative,
            seeds=args.seeds or [0], steps=args.steps, guidance=args.guidance, lora_scale=args.scale,
            sampler=args.sampler, width=args.size, height=args.size, output=args.out,
        )
        if args.size is not None and args.size % 8:
            raise UserError(f"--size {args.size} is not a multiple of 8; the VAE needs that, try {args.size // 8 * 8 or 8}.")
    except ValueError as exc:
        raise UserError(f"Invalid option ({str(exc).splitlines()[0]}).") from None

    def progress(done: int, total: int) -> None:
        print(f"{done}/{total}", file=sys.stderr)

    records = generate_batch(request, progress=progress)
    for record in records:
        print(f"{record.id}: " + "  ".join(f"{role}={args.out}/{name}" for role, name in record.images.items()))
    return 0
