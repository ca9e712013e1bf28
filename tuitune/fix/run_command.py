"""``tuitune fix``: check the options, queue a ``fix`` job and follow it (no torch in this process)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.fix.request import FixRequest


def read_prompts(path: str | Path) -> list[str]:
    """One prompt a line; blank lines and lines starting with # are skipped."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"The prompts file {path} does not exist; give a text file with one prompt a line.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"The prompts file {path} cannot be read ({exc}); give a UTF-8 text file.") from None
    prompts = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise UserError(f"The prompts file {path} holds no prompt; write one prompt a line.")
    return prompts


def fix_request(args: argparse.Namespace) -> FixRequest:
    """The request the options describe (prompts read from ``--prompts FILE`` too); checked by ``table()``."""
    prompts = list(args.prompt) + (read_prompts(args.prompts_file) if args.prompts_file else [])
    if not prompts:
        raise UserError("No prompts given; pass them as arguments or with --prompts FILE.")
    options = {}
    for item in args.reward_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--reward-option {item!r} is not KEY=VALUE; e.g. --reward-option model=ViT-B-32.")
        options[key] = value
    return FixRequest(
        prompts=prompts, mask=args.mask, seeds=args.seeds or [], eval_seeds=args.eval_seeds or [], model=args.model,
        reward=args.reward, reward_options=options, critic=args.critic, beta=args.beta, k=args.k, rank=args.rank,
        lr=args.lr, steps=args.steps, batch_size=args.batch_size, threshold=args.threshold, dilation=args.dilation,
        sampler_steps=args.sampler_steps, guidance=args.guidance, resolution=args.resolution,
        grad_checkpointing=args.grad_checkpointing or None, checkpoint_every=args.checkpoint_every,
        device=args.device)


def fix_table(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[fix]`` table the options describe, validated (each problem one sentence)."""
    return fix_request(args).table()


def runs_folder(args: argparse.Namespace) -> Path:
    from tuitune.jobs.resolve import find_project_root, runs_root

    if args.runs:
        return Path(args.runs).expanduser().resolve()
    if args.project or find_project_root() is not None:
        return runs_root(args.project)
    return Path.cwd() / "runs"


def main(args: argparse.Namespace) -> int:
    from tuitune.fix.request import submit

    run = submit(runs_folder(args), fix_request(args), name=args.name)
    print(f"{run.name}: {run.state()}; `tuitune attach {run.path}` follows it.")
    if args.detach:
        return 0
    from tuitune.jobs.attach import attach

    print(f"{run.name}: {attach(run)}")
    return 0
