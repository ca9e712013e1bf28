"""``tuitune toyworld ...`` subcommands: pretrain, check, generate, train-critic, sample-project."""

from __future__ import annotations

import argparse

from tuitune.cli.lazy import lazy


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("toyworld", help="the built-in toy world of shapes and its tiny model")
    sub = parser.add_subparsers(dest="toyworld_command", metavar="ACTION", required=True)

    p = sub.add_parser("pretrain", help="train the toyworld model from scratch on CPU (resumable)")
    p.add_argument("--out", required=True, help="folder for the pipeline, its log and its resumable state")
    p.add_argument("--steps", type=int, default=3000, help="UNet training steps (default 3000)")
    p.add_argument("--vae-steps", type=int, default=1200, help="VAE training steps (default 1200)")
    p.add_argument("--decoder-steps", type=int, default=300,
                   help="decoder-only refinement steps after the UNet (default 300; 0 skips it)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    p.add_argument("--vae-from", default="",
                   help="start the VAE from this pipeline folder's VAE (with --vae-steps 0 it is used as it is)")
    p.add_argument("--from", dest="unet_from", default="",
                   help="go on training this pipeline folder's UNet and text encoder (same --unet-channels) "
                        "instead of starting them from random weights")
    p.add_argument("--filler-rate", type=float, default=0.5,
                   help="share of captions with a made-up word around them, as a trigger word comes (default 0.5)")
    p.add_argument("--lr", type=float, default=1e-3, help="the UNet's peak learning rate (default 1e-3)")
    p.add_argument("--text-encoder-lr", type=float, default=5e-4,
                   help="the text encoder's layers' learning rate (default 5e-4; 0 keeps them as they are, so a "
                        "word the world never uses keeps features of its own that a LoRA can bind)")
    p.add_argument("--device", default="cpu",
                   help="cpu (default) or cuda; on a GPU give a bigger --batch-size and more --steps")
    p.add_argument("--unet-channels", default="48,96,96",
                   help="the UNet's channels per level (default 48,96,96; e.g. 96,192,192 on a GPU)")
    p.add_argument("--background", action="store_true",
                   help="run detached; follow progress in OUT/pretrain.log")
    p.add_argument("--snapshot", metavar="DIR",
                   help="write the newest checkpoint's averaged weights as a pipeline folder DIR and exit "
                        "(check a pretraining while it goes on: tuitune toyworld check --model DIR)")
    p.set_defaults(handler=lazy("tuitune.toyworld.actions:pretrain_command"))

    p = sub.add_parser("check", help="how often the model draws the prompted colour and shape")
    p.add_argument("--model", help="pipeline folder (default: the shipped toyworld model)")
    p.add_argument("--lora", help="a LoRA .safetensors to load on top of the model")
    p.add_argument("--samples", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=25, help="sampling steps (default 25)")
    p.add_argument("--guidance", type=float, default=3.0)
    p.set_defaults(handler=lazy("tuitune.toyworld.actions:check_command"))

    p = sub.add_parser("generate", help="write a grid PNG of samples for some prompts")
    p.add_argument("prompts", nargs="*", help="prompts, one per row (default: a few toyworld prompts)")
    p.add_argument("--out", default="toyworld-grid.png", help="PNG to write (default toyworld-grid.png)")
    p.add_argument("--model", help="pipeline folder (default: the shipped toyworld model)")
    p.add_argument("--lora", help="a LoRA .safetensors to load on top of the model")
    p.add_argument("--per-prompt", type=int, default=6, help="samples per prompt (default 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--scale", type=int, default=2, help="pixel upscale of the grid (default 2)")
    p.set_defaults(handler=lazy("tuitune.toyworld.actions:generate_command"))

    p = sub.add_parser("train-critic", help="train the defect critic the fix loop uses, on generated pictures")
    p.add_argument("--out", required=True, help="folder for critic.safetensors and report.json")
    p.add_argument("--steps", type=int, default=800, help="training steps (default 800)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    p.add_argument("--held-out", type=int, default=512, help="held-out pictures to measure it on (default 512)")
    p.add_argument("--through-vae", type=float, default=0.75,
                   help="share of pictures passed through the toyworld VAE first (default 0.75)")
    p.set_defaults(handler=lazy("tuitune.toyworld.actions:train_critic_command"))

    p = sub.add_parser("sample-project", help="write the toyworld-watermark sample project's inputs")
    p.add_argument("--out", required=True, help="folder to write images/, captions, intent.txt into")
    p.add_argument("--count", type=int, default=32)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=lazy("tuitune.toyworld.sample_project:sample_project_command"))
