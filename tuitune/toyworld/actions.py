"""What the ``tuitune toyworld`` commands do: pretrain (maybe detached), check, generate, train-critic."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tuitune.errors import UserError


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
                "--filler-rate", str(args.filler_rate), "--lr", str(args.lr),
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
                         filler_rate=args.filler_rate, lr=args.lr, final_lr=0.3 * args.lr,
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
