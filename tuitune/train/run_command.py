"""``tuitune train``: run the loop in the foreground with a rich progress bar."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path


def main(args: argparse.Namespace) -> int:
    if (Path(args.config) / "project.toml").is_file():
        from tuitune.project.train_job_command import train_project

        return train_project(args)  # queued as a job, as the app does; no torch in this process
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tuitune.train.config import load_config
    from tuitune.train.errors import TrainError
    from tuitune.train.loop import train

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if Path(args.config).is_dir():
        raise TrainError(f"{args.config} is a folder but not a tuitune project; give a config TOML or a project.")
    config = load_config(args.config)
    config_path = Path(args.config).resolve()
    run_dir = Path(args.run_dir) if args.run_dir else config_path.parent / "runs" / config_path.stem
    if args.steps is not None and args.steps < 1:
        raise TrainError("--steps must be at least 1.")
    columns = (TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TextColumn("{task.fields[speed]}"), TimeRemainingColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("train", total=args.steps or config.train.steps, loss="-", speed="")

        first: list[tuple[float, int]] = []  # the first step's (time, step): the wall rate counts from there

        def on_step(step: int, total: int, row: dict) -> None:
            # Wall seconds per step, so the samples and checkpoints made between steps count (s_per_step
            # times the step alone).
            now = time.monotonic()
            first[:] = first or [(now, step)]
            (t0, s0) = first[0]
            speed = f"{(now - t0) / (step - s0):.2f} s/step" if step > s0 else f"{row['s_per_step']:.2f} s/step"
            progress.update(task, completed=step, total=total, loss=f"{row['loss']:.4f}", speed=speed)

        outcome = train(config, run_dir, resume=args.resume, steps=args.steps, device=args.device, on_step=on_step)
    if outcome.state == "finished":
        print(f"LoRA written to {outcome.lora_path} (kohya keys: {run_dir / 'lora_kohya.safetensors'})")
    else:
        print(f"Stopped at step {outcome.step}; continue with: tuitune train {args.config} --run-dir {run_dir} --resume")
    return 0
