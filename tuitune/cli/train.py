"""The ``tuitune train`` subcommand: a project queued as a job, a config file trained in this terminal, or the
memory plan of either (the loop is imported when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tuitune.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a region-aware LoRA of a project (queued as the app does) or from a config TOML",
        description="Train a LoRA. A project folder queues a run as the Train screen does and follows it "
                    "(Ctrl-C detaches, the run goes on); a config TOML trains in this terminal (Ctrl-C "
                    "checkpoints, then stops).")
    p.add_argument("config", help="training config (TOML), or a project folder to queue a run of it as the app does")
    p.add_argument("--steps", type=int, default=None, help="override [train] steps")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="override [train] device")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its newest checkpoint")
    p.add_argument("--run-dir", default=None, help="run directory (default: runs/<config name> beside the config)")
    p.add_argument("--accelerate-config", default=None, metavar="FILE",
                   help="for a project: launch the run through this accelerate config file (the YAML `accelerate "
                        "config` writes: multi-GPU, multi-node, DeepSpeed, FSDP); default: project.toml's "
                        "[accelerate] config")
    p.add_argument("--plan", action="store_true",
                   help="print the memory plan (predicted peak memory against this machine's free memory, and "
                        "what would make it fit) and exit without training; exit code 1 when it does not fit")
    p.add_argument("--detach", action="store_true",
                   help="for a project: queue the run and return (default: follow it; Ctrl-C detaches)")
    p.set_defaults(handler=train_command)


def train_command(args: argparse.Namespace) -> int:
    if args.plan:
        from tuitune.train.terminal import print_plan

        return print_plan(args.config, device=args.device)
    if (Path(args.config) / "project.toml").is_file():  # queued as a job, as the app does; no torch in this process
        from tuitune.train.terminal import queue_project_run

        if args.resume or args.run_dir:
            raise UserError("--resume and --run-dir are for config files; a project's runs resume with "
                            "`tuitune resume RUN --project PROJECT`.")
        return queue_project_run(args.config, steps=args.steps, device=args.device,
                                 accelerate_config=args.accelerate_config, detach=args.detach)
    from tuitune.train.terminal import train_file

    return train_file(args.config, args.run_dir, steps=args.steps, device=args.device, resume=args.resume,
                      accelerate_config=args.accelerate_config)
