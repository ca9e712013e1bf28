"""Worker entry point the job runner launches detached: ``python -m tuitune.train.worker RUN_DIR [--resume]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def run(run_dir: Path, resume: bool = False, steps: int | None = None, device: str | None = None) -> int:
    """Train the config frozen in ``RUN_DIR/run.toml``; exit code 0 finished/stopped, 2 user error, 1 crash."""
    from tuitune.errors import UserError
    from tuitune.jobs.rundir import RunDir
    from tuitune.train.config import load_config
    from tuitune.train.loop import train

    rd = RunDir(run_dir)
    try:
        if not rd.run_toml.exists():
            raise UserError(f"{rd.run_toml} does not exist; create the run with `tuitune train CONFIG.toml` first.")
        config = load_config(rd.run_toml)
        train(config, rd, resume=resume, steps=steps, device=device)
    except UserError as exc:
        if int(os.environ.get("RANK", "0")) == 0 and rd.read_status().get("state") != "failed":
            rd.write_status(state="failed", message=str(exc))
        print(f"tuitune: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitune.train.worker", description=run.__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    parser.add_argument("--steps", type=int, default=None, help="override [train] steps")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(args.run_dir, args.resume, args.steps, args.device)


if __name__ == "__main__":
    raise SystemExit(main())
