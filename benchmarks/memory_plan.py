"""The memory plan's prediction against the measured peak of real training runs on this CPU.

Each row trains a few steps through ``tuitune.train.loop.train`` in a fresh process (peak RSS is a process's
lifetime maximum) and reads its peak resident memory (``resource.getrusage``); the plan is made from the same
config in this process, before. Printed per row: predicted and measured peak, their ratio, and the activation
term on its own (measured: the peak less the process's resident memory after the model loaded, read at the
end of the first step is too late, so it is the peak less predicted weights and runtime).

Rows: the toyworld model (64 px) at batch 1, 8 and 32, with and without gradient checkpointing, and the SD 1.5
architecture (``arch:sd15``, random weights) at 64 and 128 px with and without checkpointing (about a minute a
row on 2 cores, 6 GB of RAM); ``--rows sd15-large`` adds 256 and 512 px (minutes a row, up to 9 GB).

Run: HF_HUB_OFFLINE=1 nice .venv/bin/python benchmarks/memory_plan.py [--rows toyworld|sd15|sd15-large|all]
[--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROWS = {
    "toyworld": [("toyworld", 64, 1, False), ("toyworld", 64, 8, False), ("toyworld", 64, 8, True),
                 ("toyworld", 64, 32, False)],
    "sd15": [("arch:sd15", 64, 1, False), ("arch:sd15", 64, 1, True), ("arch:sd15", 128, 1, False),
             ("arch:sd15", 128, 1, True), ("arch:sd15", 128, 2, False)],
    # SD 1.5 at its own sizes: minutes a row on 2 cores, up to about 9 GB of RAM.
    "sd15-large": [("arch:sd15", 256, 1, False), ("arch:sd15", 512, 1, False), ("arch:sd15", 512, 1, True)],
}


def config_for(base: str, resolution: int, batch: int, checkpointing: bool, images: Path, steps: int) -> dict:
    return {
        "model": {"base": base},
        "data": {"folder": str(images), "resolution": resolution, "buckets": False},
        "lora": {"rank": 8, "alpha": 8},
        "train": {"steps": steps, "batch_size": batch, "grad_checkpointing": checkpointing, "device": "cpu",
                  "cache_dir": str(images.parent / "cache"), "lr": 1e-4},
        "checkpoints": {"every": 0, "keep": 1},
        "samples": {"every": 0},
    }


def child(spec: str) -> None:
    """Train the config in ``spec`` (JSON) and print the process's peak RSS and its RSS before training."""
    import resource

    import psutil
    import torch

    torch.set_num_threads(int(os.environ.get("TUITUNE_BENCH_THREADS", "2")))
    from tuitune.train.config import TrainConfig
    from tuitune.train.loop import train

    data = json.loads(spec)
    config = TrainConfig.from_dict(data["config"], base_dir=Path(data["run"]).parent)
    before = psutil.Process().memory_info().rss
    tick = time.perf_counter()
    train(config, Path(data["run"]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak": peak, "before": before, "seconds": time.perf_counter() - tick}))


def make_images(folder: Path, count: int, size: int) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
        (folder / f"img{i}.txt").write_text("a photo of zxq", encoding="utf-8")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", choices=[*ROWS, "all"], default="all",
                        help="which rows (all = toyworld and sd15; sd15-large only when named)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON here too")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    from tuitune.train.config import TrainConfig
    from tuitune.train.memory_plan import GIB, RUNTIME_CPU, load_architecture, plan

    rows = ROWS["toyworld"] + ROWS["sd15"] if args.rows == "all" else ROWS[args.rows]
    results = []
    architectures: dict[str, object] = {}
    print(f"{'model':<10} {'px':>4} {'batch':>5} {'ckpt':>4} {'predicted':>10} {'measured':>9} {'ratio':>6} "
          f"{'act pred':>9} {'act meas':>9} {'s':>5}")
    with tempfile.TemporaryDirectory() as tmp:
        for n, (base, resolution, batch, checkpointing) in enumerate(rows):
            root = Path(tmp) / f"row{n}"
            images = make_images(root / "images", max(batch, 2), resolution)
            data = config_for(base, resolution, batch, checkpointing, images, args.steps)
            config = TrainConfig.from_dict(data, base_dir=root)
            arch = architectures.get(base) or load_architecture(config)
            architectures[base] = arch
            predicted = plan(config, "cpu", arch)  # type: ignore[arg-type]
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
            out = subprocess.run([sys.executable, __file__, "--child", json.dumps({"config": data,
                                  "run": str(root / "run")})], env=env, capture_output=True, text=True, cwd=REPO)
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                return 1
            measured = json.loads(out.stdout.strip().splitlines()[-1])
            act_pred = max(predicted.activations, predicted.vae_encode) + predicted.lora
            act_meas = measured["peak"] - predicted.weights - RUNTIME_CPU
            row = {"model": base, "resolution": resolution, "batch": batch, "checkpointing": checkpointing,
                   "predicted_gib": predicted.peak / GIB, "measured_gib": measured["peak"] / GIB,
                   "ratio": predicted.peak / measured["peak"], "activations_predicted_gib": act_pred / GIB,
                   "activations_measured_gib": act_meas / GIB, "rss_before_gib": measured["before"] / GIB,
                   "seconds": measured["seconds"]}
            results.append(row)
            print(f"{base.removeprefix('arch:'):<10} {resolution:>4} {batch:>5} {'on' if checkpointing else 'off':>4} "
                  f"{row['predicted_gib']:>8.2f}Gi {row['measured_gib']:>7.2f}Gi {row['ratio']:>6.2f} "
                  f"{row['activations_predicted_gib']:>7.3f}Gi {row['activations_measured_gib']:>7.3f}Gi "
                  f"{row['seconds']:>5.0f}", flush=True)
    worst = max(abs(r["ratio"] - 1) for r in results)
    print(f"worst |predicted/measured - 1| = {worst:.1%} (goal: within 15%)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
