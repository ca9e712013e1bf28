"""Focus-N-Fix on the toyworld: remove the watermark the model draws, against plain DRaFT, same steps and seeds.

    nice .venv/bin/python benchmarks/fix.py [--steps 150] [--beta 20] [--work DIR --reuse] [--out benchmarks/fix.json]

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
    parser.add_argument("--seed", type=int, default=0, help="the fix runs' own seed (LoRA init, batch order)")
    parser.add_argument("--work", type=Path, help="folder for the two runs (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --work: an arm whose run of the same settings finished there is read, not rerun")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "fix.json")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    common = {"prompts": PROMPTS, "seeds": args.train_seeds, "eval_seeds": args.eval_seeds, "steps": args.steps,
              "k": args.k, "lr": args.lr, "rank": args.rank, "alpha": float(args.rank), "batch_size": args.batch_size,
              "sampler_steps": args.sampler_steps, "checkpoint_every": 0, "device": "cpu", "seed": args.seed}
    work = args.work or Path(tempfile.mkdtemp(prefix="tuitune-fix-bench-"))
    settings = f"steps{args.steps}-lr{args.lr:g}-k{args.k}-r{args.rank}-b{args.batch_size}"
    settings += f"-seed{args.seed}" if args.seed else ""
    reports = {"draft": arm(f"draft-{settings}", {**common, "beta": 0.0}, work, args.reuse),
               "focus_n_fix": arm(f"focus_n_fix-{settings}-beta{args.beta:g}", {**common, "beta": args.beta}, work,
                                  args.reuse)}
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
    columns = ["defect_rate", "reward", "drift_outside", "drift_inside", "watermark_rate", "subject_kept"]
    print(f"{'arm':<12}" + "".join(f"{c:>16}" for c in columns))
    for name, figures in arms.items():
        cells = [figures.get(c) for c in columns]
        print(f"{name:<12}" + "".join(f"{'n/a':>16}" if v is None else f"{v:>16.4f}" for v in cells))
    print(f"defect rate down {drop:.0%} vs base (target >= 80%): {'met' if targets['defect_rate_drop_met'] else 'NOT met'}"
          if drop is not None else "defect rate of base is 0: no drop to measure")
    print(f"drift outside focus_n_fix/draft = {ratio:.2f} (target <= 0.30, defect rate within 10 points): "
          f"{'met' if targets['drift_target_met'] else 'NOT met'}" if ratio is not None else "draft did not drift")
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "prompts": PROMPTS,
                                    "arms": arms, "targets": targets}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
