"""``tuitune fix``: check the options, queue a ``fix`` job and follow it (no torch in this process)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tuitune.errors import UserError


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


def fix_table(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[fix]`` table the options describe, validated (each problem one sentence)."""
    from tuitune.fix.config import FixConfig

    prompts = list(args.prompt) + (read_prompts(args.prompts_file) if args.prompts_file else [])
    if not prompts:
        raise UserError("No prompts given; pass them as arguments or with --prompts FILE.")
    options = {}
    for item in args.reward_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--reward-option {item!r} is not KEY=VALUE; e.g. --reward-option model=ViT-B-32.")
        options[key] = value
    table: dict[str, Any] = {
        "model": args.model, "prompts": prompts, "reward": args.reward, "reward_options": options,
        "mask": args.mask, "critic": args.critic, "beta": args.beta, "k": args.k, "rank": args.rank,
        "alpha": float(args.rank), "lr": args.lr, "steps": args.steps, "batch_size": args.batch_size,
        "threshold": args.threshold, "dilation": args.dilation, "sampler_steps": args.sampler_steps,
        "guidance": args.guidance, "resolution": args.resolution, "grad_checkpointing": args.grad_checkpointing,
        "checkpoint_every": args.checkpoint_every, "device": args.device,
    }
    if args.seeds:
        table["seeds"] = args.seeds
    if args.eval_seeds:
        table["eval_seeds"] = args.eval_seeds
    if args.mask.startswith("file:"):
        table["mask"] = "file:" + str(Path(args.mask[5:]).expanduser().resolve())
    return FixConfig.from_table(table).to_table()


def runs_folder(args: argparse.Namespace) -> Path:
    from tuitune.jobs.resolve import find_project_root, runs_root

    if args.runs:
        return Path(args.runs).expanduser().resolve()
    if args.project or find_project_root() is not None:
        return runs_root(args.project)
    return Path.cwd() / "runs"


def main(args: argparse.Namespace) -> int:
    from tuitune.jobs.queue import submit

    table = fix_table(args)
    run = submit(runs_folder(args), "fix", {"fix": table}, name=args.name or None)
    print(f"{run.name}: {run.state()}; `tuitune attach {run.path}` follows it.")
    if args.detach:
        return 0
    from tuitune.jobs.attach import attach

    print(f"{run.name}: {attach(run)}")
    return 0
