"""``tuitune fix``: check the options, queue a ``fix`` job and follow it (no torch in this process; the loop runs
in the job)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuitune.errors import UserError

if TYPE_CHECKING:
    from tuitune.fix.request import FixRequest


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fix", help="Focus-N-Fix: fix a problem region the critic or a reward finds, leave the rest as it was",
        description="Draw the prompts with the frozen model, find each picture's problem region (the reward's "
                    "heatmap, Grad-CAM of it, or your box or mask), then train a LoRA with DRaFT-K that raises "
                    "the reward while keeping the pixels outside the region. Queued as a job; Ctrl-C detaches.")
    p.add_argument("prompt", nargs="*", help="prompts to fix (or --prompts FILE)")
    p.add_argument("--prompts", dest="prompts_file", metavar="FILE", help="a text file with one prompt a line")
    p.add_argument("--model", default=None, help="base model: folder, .safetensors or toyworld (default)")
    p.add_argument("--reward", default=None,
                   help="toyworld-critic (default), critic:PATH, scorer:PATH or open_clip:CHECKPOINT")
    p.add_argument("--reward-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the reward (open_clip: model=NAME, config=JSON); repeatable")
    p.add_argument("--mask", default=None,
                   help="reward (its heatmap, or Grad-CAM when it has none), gradcam, box:X0,Y0,X1,Y1 or file:PNG")
    p.add_argument("--critic", default=None, help="critic for the defect rate ('' for none)")
    p.add_argument("--seed", type=int, action="append", dest="seeds", metavar="N", help="training seed (repeatable)")
    p.add_argument("--eval-seed", type=int, action="append", dest="eval_seeds", metavar="N",
                   help="held-out evaluation seed (repeatable)")
    p.add_argument("--beta", type=float, default=None, help="weight of the outside-the-mask regulariser (0 = DRaFT)")
    p.add_argument("--k", type=int, default=None, help="sampler steps the reward is backpropagated through")
    p.add_argument("--rank", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--steps", type=int, default=None, help="optimisation steps")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--threshold", type=float, default=None, help="heatmap threshold of the mask (0..1)")
    p.add_argument("--dilation", type=int, default=None, help="pixels the mask grows by")
    p.add_argument("--sampler-steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--resolution", type=int, default=None)
    p.add_argument("--grad-checkpointing", action="store_true", help="recompute the K steps and decoder in backward")
    p.add_argument("--checkpoint-every", type=int, default=None)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    p.add_argument("--runs", help="runs folder (default: the project's runs/, else ./runs)")
    p.add_argument("--project", help="project folder whose runs/ gets the run")
    p.add_argument("--name", help="run name (default fix-<time>)")
    p.add_argument("--detach", action="store_true", help="queue the run and return (default: follow it)")
    # Settings left out are None: FixConfig's defaults apply, the same as for a fix started from the app.
    p.set_defaults(handler=fix_command)


def fix_request(args: argparse.Namespace) -> FixRequest:
    """The request the options describe (prompts read from ``--prompts FILE`` too); checked by ``table()``."""
    from tuitune.fix.request import FixRequest, read_prompts

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


def fix_command(args: argparse.Namespace) -> int:
    from tuitune.fix.request import submit

    run = submit(runs_folder(args), fix_request(args), name=args.name)
    print(f"{run.name}: {run.state()}; `tuitune attach {run.path}` follows it.")
    if args.detach:
        return 0
    from tuitune.jobs.attach import attach

    print(f"{run.name}: {attach(run)}")
    return 0
