"""Efficacy on the toyworld sample project: plain LoRA vs masked-loss LoRA vs tuitune, same data, steps and seeds.

    nice .venv/bin/python benchmarks/efficacy.py [--steps 200] [--out benchmarks/efficacy.json]

Data: ``sample_projects/toyworld-watermark`` -- 32 pictures of the character zxq (a ring whose colour varies),
three in four with a watermark, their captions, the generator's true masks and the user's intent in words
(keep the ring, its colour may vary, delete the watermark, the background does not matter). Every arm trains
the shipped toyworld model with the sample project's train.toml hyperparameters (rank, lr, batch, steps, seed):

  plain    - original captions (they mention the watermark), no masks, uniform loss
  masked   - original captions, loss only on the character: weight 0 on the watermark and everywhere outside
             the character, no preservation (what kohya / OneTrainer masked loss does)
  tuitune  - the intent parsed by the rules parser; masks under its concept names; augmentation by
             operation (keep crops, modify recolours, delete inpainting); captions from the caption
             optimiser, trained with the tag dropout a project run gets on them (every tag after the trigger
             dropped, so the trigger alone carries the character); the ``[loss]`` table from the loss plan
             (watermark weight 0 + preserved; the background, which doesn't matter, weight 1 + preserved;
             lambda 1)

All arms use the same true masks (so detection quality is not measured here) and are scored with the same
intent, held-out prompts, seeds, keep references and the analytic vision backend ("toyworld"). The table is
printed and written as JSON; lower drift is better, higher is better for the rest.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuitune.toyworld.sample_training import (  # noqa: E402
    SAMPLE,
    concept_masks,
    copy_pictures,
    prepare_tuitune,
    sample_spec,
    train_config,
)

ARMS = ("plain", "masked", "tuitune")
METRICS = ("keep fidelity", "modify flexibility", "delete absence", "drift outside focus",
           "drift on neutral prompts", "intent score")
LOWER_IS_BETTER = {"drift outside focus", "drift on neutral prompts"}
SHORT = {"keep fidelity": "keep", "modify flexibility": "modify", "delete absence": "delete",
         "drift outside focus": "drift-focus", "drift on neutral prompts": "drift-neutral", "intent score": "score"}


def prepare_arm(arm: str, spec: Any, workdir: Path, augment_seed: int) -> tuple[Path, Path | None, dict[str, Any]]:
    """(training folder, masks folder, [loss] table) of one arm."""
    if arm == "plain":
        return copy_pictures(workdir / arm / "images"), None, {}
    if arm == "masked":
        loss = {"preservation": 0.0, "background_weight": 0.0, "background_preserve": 0.0,
                "concepts": {"character": {"weight": 1.0, "preserve": 0.0},
                             "watermark": {"weight": 0.0, "preserve": 0.0},
                             "background": {"weight": 0.0, "preserve": 0.0}}}
        return copy_pictures(workdir / arm / "images"), SAMPLE / "ground_truth", loss
    return prepare_tuitune(spec, workdir / arm, augment_seed)


def data_options(arm: str, spec: Any) -> dict[str, Any]:
    """``[data]`` options of one arm over train.toml's: tuitune trains its captions as a project run would."""
    from tuitune.project.train_run import intent_caption_options

    return intent_caption_options(spec) if arm == "tuitune" else {}


def keep_references(spec: Any, workdir: Path) -> dict[str, list[Any]]:
    """Crops of each keep concept from the original pictures and true masks: one reference set for all arms."""
    from tuitune.evaluate.references import references_from_masks
    from tuitune.intent.spec import Operation

    masks = concept_masks(spec, workdir / "reference_masks")
    return references_from_masks(SAMPLE / "images", masks, spec.by_operation(Operation.KEEP), limit=32)


def render_table(table: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'arm':8} " + " ".join(f"{SHORT[m]:>13}" for m in METRICS) + f" {'train s':>8}"]
    for arm, row in table.items():
        cells = [f"{row[m]:13.3f}" if isinstance(row.get(m), float) else f"{'n/a':>13}" for m in METRICS]
        lines.append(f"{arm:8} " + " ".join(cells) + f" {row.get('train_seconds', 0):8.0f}")
    for metric in METRICS:
        values = {arm: row.get(metric) for arm, row in table.items() if isinstance(row.get(metric), float)}
        if len(values) == len(table):
            pick = min if metric in LOWER_IS_BETTER else max
            best = pick(values.values())
            winners = [arm for arm, v in values.items() if abs(v - best) < 1e-9]
            lines.append(f"best {SHORT[metric]:13} {', '.join(winners)}"
                         + ("" if "tuitune" in winners else "  <- tuitune does not win this one"))
    for arm in ("plain", "masked"):
        a, t = table.get(arm, {}).get("intent score"), table.get("tuitune", {}).get("intent score")
        if isinstance(a, float) and isinstance(t, float) and a > 0:
            lines.append(f"tuitune / {arm} intent score: {t / a:.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="toyworld", help="base model (default: the shipped toyworld model)")
    parser.add_argument("--steps", type=int, default=200, help="training steps per arm (train.toml has 200)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7001, 7002, 7003, 7004])
    parser.add_argument("--sample-steps", type=int, default=20)
    parser.add_argument("--augment-seed", type=int, default=0)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--backend", default="toyworld", help="vision backend for detector/segmenter/embedder")
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/.efficacy"))
    parser.add_argument("--fresh", action="store_true", help="retrain arms whose LoRA is already in --workdir")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/efficacy.json"))
    args = parser.parse_args(argv)

    from tuitune.evaluate.backends import load_backends
    from tuitune.evaluate.runner import EvalSettings, evaluate_run
    from tuitune.generate.pair import load_generator
    from tuitune.jobs.rundir import RunDir
    from tuitune.train.loop import train

    if args.fresh:
        shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    spec = sample_spec()
    print("intent: " + "; ".join(f"{c.name} {c.operation.value}" for c in spec.concepts), flush=True)
    settings = EvalSettings(
        seeds=args.seeds, steps=args.sample_steps, guidance=3.0,
        trigger_templates=["{t}", "a picture of {t}", "{t} on a white background"],
        neutral_prompts=["a blue square on a white background", "a green triangle on a black background",
                         "a yellow star on a gray background"],
        detector=args.backend, segmenter=args.backend, embedder=args.backend,
    )
    backends = load_backends(args.backend, args.backend, args.backend)
    if backends.missing:
        print(f"efficacy: vision backend {args.backend!r} is incomplete: {backends.missing}", file=sys.stderr)
        return 2
    references = keep_references(spec, args.workdir)
    generator = load_generator(args.model)
    table: dict[str, dict[str, Any]] = {}
    for arm in args.arms:
        run = RunDir(args.workdir / arm / "run")
        started = time.time()
        if not run.lora_path.is_file():
            shutil.rmtree(run.path, ignore_errors=True)
            data, masks, loss = prepare_arm(arm, spec, args.workdir, args.augment_seed)
            config = train_config(args.model, data, masks, loss, args.steps, args.workdir / arm / "cache",
                                  data_options=data_options(arm, spec))
            print(f"{arm}: training {args.steps} steps on {data}", flush=True)
            outcome = train(config, run)
            if outcome.state != "finished":
                print(f"efficacy: {arm} training ended {outcome.state}", file=sys.stderr)
                return 1
        trained = time.time() - started
        if trained < 1.0:  # trained by an earlier invocation: its own step times
            trained = sum(float(row.get("s_per_step", 0.0)) for row in run.read_metrics())
        (run.path / "spec.json").write_text(spec.to_json(), encoding="utf-8")
        started = time.time()
        rows, _ = evaluate_run(run.path, settings, generator=generator, backends=backends,
                               references=references, base_cache=args.workdir / "base")
        final = next((r for r in rows if r["checkpoint"] == "final"), rows[-1])
        metrics = {m["name"]: m for m in final.get("metrics", [])}
        table[arm] = {
            "train_seconds": round(trained, 1), "eval_seconds": round(time.time() - started, 1),
            "status": final["status"], "reason": final.get("reason", ""),
            **{name: metrics.get(name, {}).get("value") for name in METRICS},
            "notes": {name: metrics[name]["reason"] for name in METRICS if metrics.get(name, {}).get("reason")},
            "details": {name: metrics[name].get("details", {}) for name in METRICS if name in metrics},
        }
        print(f"{arm}: " + ", ".join(f"{SHORT[m]} {table[arm][m]:.3f}" if isinstance(table[arm][m], float)
                                     else f"{SHORT[m]} n/a ({table[arm]['notes'].get(m, '')})" for m in METRICS),
              flush=True)
    print(render_table(table))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                    "spec": spec.model_dump(mode="json"), "table": table},
                                   indent=2, default=str) + "\n", encoding="utf-8")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
