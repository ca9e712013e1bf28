"""The ``tuitune train`` subcommand (arguments only; the loop is imported when it runs)."""

from __future__ import annotations

import argparse

from tuitune.cli.lazy import lazy


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
    p.set_defaults(handler=lazy("tuitune.train.run_command:main"))
