"""Focus-N-Fix on the toyworld: remove the watermark the model draws, against plain DRaFT, same steps and seeds.

    nice .venv/bin/python benchmarks/fix.py [--seeds 0 1 2 3 4 5 6 7] [--steps 150] [--beta 20] [--work DIR --reuse]
                                            [--out benchmarks/fix.json]

The shipped toyworld model draws a corner watermark whenever a prompt ends in ", with a watermark". Both arms
start from it, train a LoRA on the same prompts and training seeds with the shipped defect critic as the reward
(r = minus the mean defect probability) and DRaFT-K through the last K DDIM steps and the decoder:

  base         - the frozen model (LoRA off)
  draft        - beta = 0: the reward alone (plain DRaFT-K)
  focus_n_fix  - beta > 0: the reward minus beta * mean(((1 - M) * (I0 - I))^2), M the critic's thresholded,
                 dilated heatmap on the frozen picture I0

Every arm is measured on held-out seeds (and the training prompts) with the same x_T per picture:
defect_rate (the critic marks >= 8 pixels at 0.5), reward, drift_outside and drift_inside (mean absolute
pixel difference to the frozen picture outside / inside M). Because the critic is also the reward it can be
fooled, so the analytic reader of the toyworld judges too: watermark_rate (a corner mark is found) and
subject_kept (the prompted colour and shape are still read). The targets: defect rate down >= 80% relative to
base, and focus_n_fix's drift_outside <= 0.3x draft's at a defect rate within 10 points of draft's.

``--seeds`` runs both arms once per fix-run seed (LoRA init and batch order; 8 by default) and reports each
figure as its mean over them with a 95% bootstrap interval, the targets checked on the means, and every seed's
own figures under ``per_seed`` in the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = [
    "a red circle on a white background, with a watermark",
    "a blue square on a yellow background, with a watermark",
    "a green triangle on a black background, with a watermark",
    "a purple ring on a gray background, with a watermark",
]
SUBJECTS = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("purple", "ring")]


def analytic(folder: Path, count: int, seeds_per_prompt: int) -> dict[str, float]:
    """Watermark rate and the share whose prompted colour (and shape) the analytic reader still finds."""
    from PIL import Image

    from tuitune.toyworld.analysis import read_scene

    marks = colour = shape = 0
    for i in range(count):
        reading = read_scene(Image.open(folder / f"{i:03d}.png").convert("RGB"))
        want_colour, want_shape = SUBJECTS[i // seeds_per_prompt]
        marks += bool(reading.marks)
        colour += any(o.colour == want_colour for o in reading.objects)
        shape += any(o.colour == want_colour and o.shape == want_shape for o in reading.objects)
    return {"watermark_rate": marks / count, "colour_kept": colour / count, "subject_kept": shape / count}


def arm(name: str, table: dict[str, Any], work: Path, reuse: bool = False) -> dict[str, Any]:
    from tuitune.fix.config import FixConfig
    from tuitune.fix.results import read_report

    done = read_report(work / name) if reuse else None
    if done is not None and (work / name / "lora.safetensors").is_file():
        print(f"{name}: reusing {work / name}", file=sys.stderr)
        return {**done, "seconds": None, "run": str(work / name)}
    from tuitune.fix.loop import run_fix
    from tuitune.jobs.context import JobContext
    from tuitune.jobs.rundir import RunDir

    start = time.time()
    run = RunDir(work / name).create()
    report = run_fix(FixConfig.from_table(table), JobContext(run=run))
    assert report is not None
    report["seconds"] = round(time.time() - start, 1)
    report["run"] = str(run.path)
    print(f"{name}: {report['seconds']} s", file=sys.stderr)
    return report


COLUMNS = ["defect_rate", "reward", "drift_outside", "drift_inside", "watermark_rate", "subject_kept"]


def one_seed(args: argparse.Namespace, seed: int, work: Path) -> dict[str, dict[str, Any]]:
    """Both arms trained with fix-run seed ``seed`` (DRaFT's run is reused across betas and masks: with beta 0
    the mask does not enter its loss), and the frozen model's figures."""
    common = {"prompts": PROMPTS, "seeds": args.train_seeds, "eval_seeds": args.eval_seeds, "steps": args.steps,
              "k": args.k, "lr": args.lr, "rank": args.rank, "alpha": float(args.rank), "batch_size": args.batch_size,
              "sampler_steps": args.sampler_steps, "checkpoint_every": 0, "device": "cpu", "seed": seed,
              "threshold": args.threshold, "dilation": args.dilation}
    settings = f"steps{args.steps}-lr{args.lr:g}-k{args.k}-r{args.rank}-b{args.batch_size}"
    settings += f"-seed{seed}" if seed else ""
    mask = f"-t{args.threshold:g}-d{args.dilation}" if (args.threshold, args.dilation) != (0.5, 2) else ""
    reports = {"draft": arm(f"draft-{settings}", {**common, "beta": 0.0}, work, args.reuse),
               "focus_n_fix": arm(f"focus_n_fix-{settings}-beta{args.beta:g}{mask}", {**common, "beta": args.beta},
                                  work, args.reuse)}
    count = len(PROMPTS) * len(args.eval_seeds)
    first = reports["draft"]
    arms: dict[str, dict[str, Any]] = {"base": {"defect_rate": first["base"]["defect_rate"],
                                                "reward": first["base"]["reward"],
                                                "drift_outside": 0.0, "drift_inside": 0.0,
                                                **analytic(Path(first["run"]) / "eval" / "frozen", count,
                                                           len(args.eval_seeds))}}
    for name, report in reports.items():
        arms[name] = {"defect_rate": report["tuned"]["defect_rate"], "reward": report["tuned"]["reward"],
                      "drift_outside": report["drift_outside"], "drift_inside": report["drift_inside"],
                      "seconds": report["seconds"],
                      **analytic(Path(report["run"]) / "eval" / "tuned", count, len(args.eval_seeds))}
    return arms


def mean_arms(per_seed: dict[int, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each arm's figures as their mean over the seeds (a figure one seed lacks is left out of its mean)."""
    arms: dict[str, dict[str, Any]] = {}
    for name in next(iter(per_seed.values())):
        arms[name] = {}
        for column in COLUMNS:
            values = [seed[name][column] for seed in per_seed.values() if seed[name].get(column) is not None]
            arms[name][column] = sum(values) / len(values) if values else None
    return arms


def spread(per_seed: dict[int, dict[str, dict[str, Any]]], name: str, column: str) -> dict[str, float] | None:
    from tuitune.toyworld.efficacy import bootstrap

    values = [seed[name][column] for seed in per_seed.values() if seed[name].get(column) is not None]
    if not values:
        return None
    found = bootstrap(values)
    return {"mean": found.mean, "low": found.low, "high": found.high, "n": found.n}


def print_table(per_seed: dict[int, dict[str, dict[str, Any]]], arms: dict[str, dict[str, Any]]) -> None:
    """Per seed, then the means with their 95% bootstrap interval (more than one seed)."""
    print(f"{'arm':<12}{'seed':>6}" + "".join(f"{c:>16}" for c in COLUMNS))
    for seed, figures_by_arm in per_seed.items():
        for name, figures in figures_by_arm.items():
            cells = [figures.get(c) for c in COLUMNS]
            print(f"{name:<12}{seed:>6}" + "".join(f"{'n/a':>16}" if v is None else f"{v:>16.4f}" for v in cells))
    if len(per_seed) > 1:
        print(f"mean over {len(per_seed)} seeds [95% bootstrap interval]:")
        for name in arms:
            cells = []
            for column in COLUMNS:
                found = spread(per_seed, name, column)
                cells.append("n/a" if found is None else f"{found['mean']:.3f} [{found['low']:.3f},{found['high']:.3f}]")
            print(f"{name:<12}" + "".join(f"{c:>26}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--beta", type=float, default=20.0)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--lr", type=float, default=6e-3)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--sampler-steps", type=int, default=10)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--eval-seeds", type=int, nargs="+", default=[1000, 1001, 1002, 1003, 1004, 1005])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)),
                        help="the fix runs' own seeds (LoRA init, batch order): both arms once per seed")
    parser.add_argument("--threshold", type=float, default=0.5, help="heatmap threshold of the mask M")
    parser.add_argument("--dilation", type=int, default=2, help="pixels M grows by")
    parser.add_argument("--work", type=Path, help="folder for the two runs (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --work: an arm whose run of the same settings finished there is read, not rerun")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "fix.json")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="tuitune-fix-bench-"))
    per_seed = {seed: one_seed(args, seed, work) for seed in args.seeds}
    arms = mean_arms(per_seed)
    base, draft, fnf = arms["base"], arms["draft"], arms["focus_n_fix"]
    drop = 1 - fnf["defect_rate"] / base["defect_rate"] if base["defect_rate"] else None
    ratio = fnf["drift_outside"] / draft["drift_outside"] if draft["drift_outside"] else None
    targets = {
        "defect_rate_drop_vs_base": drop, "defect_rate_drop_target": 0.8,
        "defect_rate_drop_met": drop is not None and drop >= 0.8,
        "drift_outside_ratio_vs_draft": ratio, "drift_outside_ratio_target": 0.3,
        "defect_rate_gap_to_draft": fnf["defect_rate"] - draft["defect_rate"],
        "drift_target_met": ratio is not None and ratio <= 0.3 and fnf["defect_rate"] - draft["defect_rate"] <= 0.10,
    }
    print_table(per_seed, arms)
    print(f"defect rate down {drop:.0%} vs base (target >= 80%): {'met' if targets['defect_rate_drop_met'] else 'NOT met'}"
          if drop is not None else "defect rate of base is 0: no drop to measure")
    print(f"drift outside focus_n_fix/draft = {ratio:.2f} (target <= 0.30, defect rate within 10 points): "
          f"{'met' if targets['drift_target_met'] else 'NOT met'}" if ratio is not None else "draft did not drift")
    spreads = {name: {c: spread(per_seed, name, c) for c in COLUMNS} for name in arms}
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "prompts": PROMPTS,
                                    "arms": arms, "spreads": spreads, "targets": targets,
                                    "per_seed": {str(k): v for k, v in per_seed.items()}}, indent=2) + "\n",
                        encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
