"""``tuitune toyworld ...`` subcommands: pretrain (maybe detached), check, generate, train-critic, sample-project."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tuitune.errors import UserError


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
    p.add_argument("--partial-caption-rate", type=float, default=0.0,
                   help="share of captions naming only part of the scene as people prompt ('ring', 'a ring on a "
                        "blue background', 'ring, red, on a blue background'; default 0)")
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
    p.set_defaults(handler=pretrain_command)

    p = sub.add_parser("check", help="how often the model draws the prompted colour and shape")
    p.add_argument("--model", help="pipeline folder (default: the shipped toyworld model)")
    p.add_argument("--lora", help="a LoRA .safetensors to load on top of the model")
    p.add_argument("--samples", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=25, help="sampling steps (default 25)")
    p.add_argument("--guidance", type=float, default=3.0)
    p.set_defaults(handler=check_command)

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
    p.set_defaults(handler=generate_command)

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
    p.set_defaults(handler=train_critic_command)

    p = sub.add_parser("sample-project", help="write the toyworld-watermark sample project's inputs")
    p.add_argument("--out", required=True, help="folder to write images/, captions, intent.txt into")
    p.add_argument("--count", type=int, default=32)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=sample_project_command)


def pretrain_command(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; give --out a folder (new or one from an earlier pretrain run).")
    if args.snapshot:
        from tuitune.toyworld.pretrain import snapshot

        try:
            step = snapshot(out, Path(args.snapshot).expanduser().resolve())
        except (FileNotFoundError, ValueError) as exc:
            raise UserError(f"{exc}; wait for the first checkpoint (every 250 steps) and try again.") from None
        print(f"wrote step {step} of {out} as a pipeline in {args.snapshot}")
        return 0
    if args.background:
        out.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "tuitune.cli", "toyworld", "pretrain", "--out", str(out),
                "--steps", str(args.steps), "--vae-steps", str(args.vae_steps),
                "--decoder-steps", str(args.decoder_steps),
                "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--threads", str(args.threads), "--device", args.device, "--vae-from", args.vae_from,
                "--unet-channels", args.unet_channels, "--from", args.unet_from,
                "--filler-rate", str(args.filler_rate), "--partial-caption-rate", str(args.partial_caption_rate),
                "--lr", str(args.lr),
                "--text-encoder-lr", str(args.text_encoder_lr)]
        with open(out / "pretrain.out", "ab") as sink:
            proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        print(f"pretraining in the background (pid {proc.pid}); follow it with: tail -f {out / 'pretrain.log'}")
        print("Run the same command again after an interruption: it resumes from the last checkpoint.")
        return 0
    from tuitune.toyworld.pretrain import PretrainConfig, pretrain

    if not 0.0 <= args.filler_rate <= 1.0:
        raise UserError(f"--filler-rate is a share between 0 and 1, not {args.filler_rate}.")
    if not 0.0 <= args.partial_caption_rate <= 1.0:
        raise UserError(f"--partial-caption-rate is a share between 0 and 1, not {args.partial_caption_rate}.")
    if args.lr <= 0:
        raise UserError(f"--lr must be above 0, not {args.lr}.")
    if args.text_encoder_lr < 0:
        raise UserError(f"--text-encoder-lr must be 0 (keep the text encoder) or above, not {args.text_encoder_lr}.")

    cfg = PretrainConfig(unet_steps=args.steps, vae_steps=args.vae_steps, decoder_steps=args.decoder_steps,
                         batch_size=args.batch_size,
                         seed=args.seed, threads=args.threads, device=args.device,
                         unet_channels=_channels(args.unet_channels),
                         vae_from=str(Path(args.vae_from).expanduser().resolve()) if args.vae_from else "",
                         unet_from=str(Path(args.unet_from).expanduser().resolve()) if args.unet_from else "",
                         filler_rate=args.filler_rate, partial_caption_rate=args.partial_caption_rate, lr=args.lr, final_lr=0.3 * args.lr,
                         text_encoder_lr=args.text_encoder_lr)
    pretrain(out, cfg)
    return 0


def _channels(text: str) -> tuple[int, ...]:
    try:
        channels = tuple(int(part) for part in text.split(","))
    except ValueError:
        channels = ()
    if len(channels) != 3 or any(c < 8 or c % 8 for c in channels):
        raise UserError(f"--unet-channels {text!r} must be three multiples of 8 separated by commas, e.g. 48,96,96.")
    return channels


def check_command(args: argparse.Namespace) -> int:
    from tuitune.toyworld.check import run_check

    report = run_check(model=args.model, lora=args.lora, samples=args.samples, seed=args.seed,
                       steps=args.steps, guidance=args.guidance)
    print(report.render())
    return 0


def generate_command(args: argparse.Namespace) -> int:
    from tuitune.toyworld.check import sample_grid

    path = sample_grid(args.prompts, Path(args.out), model=args.model, lora=args.lora, per_prompt=args.per_prompt,
                       seed=args.seed, steps=args.steps, guidance=args.guidance, scale=args.scale)
    print(f"wrote {path}")
    return 0


def train_critic_command(args: argparse.Namespace) -> int:
    from tuitune.toyworld.critic_training import CriticTraining, train_critic

    out = Path(args.out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; give --out a folder for critic.safetensors.")
    for name, value in (("--steps", args.steps), ("--batch-size", args.batch_size), ("--held-out", args.held_out)):
        if value < 1:
            raise UserError(f"{name} must be at least 1.")
    if not 0.0 <= args.through_vae <= 1.0:
        raise UserError(f"--through-vae {args.through_vae} must be a share from 0 to 1.")
    cfg = CriticTraining(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         threads=args.threads, held_out=args.held_out, through_vae=args.through_vae)
    report = train_critic(out, cfg)
    print(f"wrote {out / 'critic.safetensors'}; held out: {report['held_out']} ({report['wall_seconds']} s)")
    return 0


def sample_project_command(args: argparse.Namespace) -> int:
    from tuitune.toyworld.sample_project import write_sample_project

    if args.count < 1:
        raise UserError("--count must be at least 1.")
    written = write_sample_project(Path(args.out).expanduser(), count=args.count, seed=args.seed)
    print(f"wrote {len(written)} files into {args.out} (existing files kept)")
    return 0
