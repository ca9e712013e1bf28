"""Efficacy on the toyworld sample project: plain LoRA vs masked-loss LoRA vs tuitune, same data, steps and seeds.

    nice .venv/bin/python benchmarks/efficacy.py [--steps 200] [--train-seeds 101 ... 108] [--out benchmarks/efficacy.json]

Each arm is trained once per training seed (8 by default) and read by the analytic toyworld reader: the share
of trigger samples showing the ring, of trigger samples carrying the watermark ("watermark, all" counts the
"a blue zxq" samples too), of "a blue zxq" samples showing a ring in the colour asked, plus the intent metrics; each figure is printed as its mean over seeds with a 95%
bootstrap interval, beside the base model's own shares, with the claims the toyworld must show checked.

Data: ``sample_projects/toyworld-watermark`` -- 32 pictures of the character zxq (a ring whose colour varies),
seven in eight with a watermark, their captions, the generator's true masks and the user's intent in words
(keep the ring, its colour may vary, delete the watermark, the background does not matter). Every arm trains
the shipped toyworld model with the sample project's train.toml hyperparameters (rank, lr, batch, steps,
seed, a text-encoder LoRA beside the UNet's):

  plain    - original captions (they never mention the watermark), no masks, uniform loss
  masked   - original captions, loss only on the character: weight 0 on the watermark and everywhere outside
             the character, no preservation (what kohya / OneTrainer masked loss does)
  tuitune  - the intent parsed by the rules parser; masks under its concept names; augmentation by
             operation (keep crops, modify recolours, delete inpainting); captions from the caption
             optimiser, trained with the tag dropout a project run gets on them (each tag after the trigger
             dropped half the time, so the trigger learns alone and beside other words); the trigger's
             token embedding trained with the LoRA from where the intent says it is ("zxq is my character:
             a ring" starts it at "ring", a project run's default pivotal tuning); the ``[loss]``
             table from the loss plan (watermark weight 0 + preserved, its inpainted copies learned without
             it; the background, which doesn't matter, weight 1 + preserved; lambda 1)

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
import tomllib
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
    from tuitune.train.project_run import intent_caption_options

    return intent_caption_options(spec) if arm == "tuitune" else {}


def lora_options(arm: str, spec: Any) -> dict[str, Any]:
    """``[lora]`` options of one arm over train.toml's: tuitune's pivotal tuning as a project run has it."""
    from tuitune.train.project_run import intent_lora_options

    return intent_lora_options(spec) if arm == "tuitune" else {}


def keep_references(spec: Any, workdir: Path) -> dict[str, list[Any]]:
    """Crops of each keep concept from the original pictures and true masks: one reference set for all arms."""
    from tuitune.evaluate.references import references_from_masks
    from tuitune.intent.spec import Operation

    masks = concept_masks(spec, workdir / "reference_masks")
    return references_from_masks(SAMPLE / "images", masks, spec.by_operation(Operation.KEEP), limit=32)


FIGURES = ("character", "watermark", "watermark, all", "colour asked", "keep fidelity", "drift outside focus",
           "intent score")
PERCENT = ("character", "watermark", "watermark, all", "colour asked")


def render_table(spreads: dict[str, dict[str, Any]], seconds: dict[str, float]) -> str:
    """One row per arm (and the base model): each figure's mean over training seeds and its 95% interval."""
    lines = [f"{'arm':8} " + " ".join(f"{f:>22}" for f in FIGURES) + f" {'train s/arm':>12}"]
    for arm, row in spreads.items():
        cells = []
        for figure in FIGURES:
            spread = row.get(figure)
            percent = figure in PERCENT
            cells.append(f"{spread.render(percent) if spread is not None else 'n/a':>22}")
        lines.append(f"{arm:8} " + " ".join(cells) + f" {seconds.get(arm, 0.0):12.0f}")
    return "\n".join(lines)


def targets(spreads: dict[str, dict[str, Any]]) -> list[tuple[str, bool]]:
    """The claims the toyworld must show, each with whether this run shows it (on the means)."""
    t, plain = spreads.get("tuitune", {}), spreads.get("plain", {})

    def mean(row: dict[str, Any], figure: str) -> float | None:
        return row[figure].mean if row.get(figure) is not None else None

    checks = []
    tc, pc = mean(t, "character"), mean(plain, "character")
    if tc is not None:
        checks.append((f"tuitune draws the ring in >= 85% of trigger samples ({tc:.0%})", tc >= 0.85))
        if pc is not None:
            checks.append((f"tuitune's ring share >= plain's ({tc:.0%} vs {pc:.0%})", tc >= pc))
    pw, tw = mean(plain, "watermark"), mean(t, "watermark")
    if pw is not None:
        checks.append((f"plain LoRA learns the watermark: >= 50% of trigger samples ({pw:.0%})", pw >= 0.5))
    if tw is not None:
        checks.append((f"tuitune's delete keeps it <= 3% of trigger samples ({tw:.0%})", tw <= 0.03))
    tm = mean(t, "colour asked")
    if tm is not None:
        checks.append((f"tuitune draws the colour asked >= 95% ({tm:.0%})", tm >= 0.95))
    td, pd = mean(t, "drift outside focus"), mean(plain, "drift outside focus")
    if td is not None and pd:
        checks.append((f"drift outside focus <= 0.4x plain's ({td / pd:.2f}x)", td <= 0.4 * pd))
    return checks


def _base_folder(workdir: Path, prompts: Any) -> Path | None:
    """The shared base-model sample folder that holds every prompt of this set."""
    for folder in sorted((workdir / "base").glob("*")):
        if all((folder / f"{p.key}.png").is_file() for p in prompts.prompts):
            return folder
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="toyworld", help="base model (default: the shipped toyworld model)")
    parser.add_argument("--steps", type=int, default=200, help="training steps per arm (train.toml has 200)")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=list(range(101, 109)),
                        help="one training run per arm and seed (default 8 seeds, 101-108)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7001, 7002, 7003, 7004],
                        help="sampling seeds of the held-out evaluation prompts")
    parser.add_argument("--sample-steps", type=int, default=20)
    parser.add_argument("--augment-seed", type=int, default=0)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--backend", default="toyworld", help="vision backend for detector/segmenter/embedder")
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/.efficacy"))
    parser.add_argument("--fresh", action="store_true", help="retrain arms whose LoRA is already in --workdir")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/efficacy.json"))
    args = parser.parse_args(argv)

    from tuitune.evaluate.backends import load_backends
    from tuitune.evaluate.prompts import build_prompts
    from tuitune.evaluate.runner import EvalSettings, evaluate_run, training_captions
    from tuitune.generate.pair import load_generator
    from tuitune.jobs.rundir import RunDir
    from tuitune.toyworld.efficacy import bootstrap, read_run
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
    per_seed: dict[str, list[dict[str, Any]]] = {arm: [] for arm in args.arms}
    prompts = None
    for seed in args.train_seeds:
        for arm in args.arms:
            folder = args.workdir / f"seed_{seed}" / arm
            run = RunDir(folder / "run")
            started = time.time()
            if not run.lora_path.is_file():
                shutil.rmtree(folder, ignore_errors=True)
                data, masks, loss = prepare_arm(arm, spec, folder, args.augment_seed)
                config = train_config(args.model, data, masks, loss, args.steps, folder / "cache",
                                      data_options=data_options(arm, spec), seed=seed,
                                      lora_options=lora_options(arm, spec))
                print(f"seed {seed} {arm}: training {args.steps} steps", flush=True)
                outcome = train(config, run)
                if outcome.state != "finished":
                    print(f"efficacy: seed {seed} {arm} training ended {outcome.state}", file=sys.stderr)
                    return 1
            trained = time.time() - started
            if trained < 1.0:  # trained by an earlier invocation: its own step times
                trained = sum(float(row.get("s_per_step", 0.0)) for row in run.read_metrics())
            (run.path / "spec.json").write_text(spec.to_json(), encoding="utf-8")
            rows, _ = evaluate_run(run.path, settings, generator=generator, backends=backends,
                                   references=references, base_cache=args.workdir / "base")
            final = next((r for r in rows if r["checkpoint"] == "final"), rows[-1])
            metrics = {m["name"]: m.get("value") for m in final.get("metrics", [])}
            if prompts is None:
                data_folder = Path(tomllib.loads(run.run_toml.read_text(encoding="utf-8"))["data"]["folder"])
                prompts = build_prompts(spec, training_captions(data_folder), settings.seeds,
                                        settings.trigger_templates, settings.neutral_prompts)
            reading = read_run(run.path, prompts, checkpoint=str(final["checkpoint"]))
            figures = {"character": reading.character, "watermark": reading.watermark,
                       "watermark, all": reading.watermark_all,
                       "colour asked": reading.colour_asked, "train_seconds": trained,
                       **{name: metrics.get(name) for name in ("keep fidelity", "drift outside focus", "intent score")}}
            per_seed[arm].append({"seed": seed, **figures})
            print(f"seed {seed} {arm}: ring {reading.character:.0%}, mark {reading.watermark:.0%}, colour asked "
                  f"{reading.colour_asked:.0%}, drift {figures['drift outside focus']}", flush=True)
    spreads: dict[str, dict[str, Any]] = {}
    base_folder = _base_folder(args.workdir, prompts) if prompts is not None else None
    if base_folder is not None:
        base = read_run(Path("."), prompts, base=base_folder)
        spreads["base"] = {"character": bootstrap([base.character]), "watermark": bootstrap([base.watermark]),
                           "watermark, all": bootstrap([base.watermark_all]),
                           "colour asked": bootstrap([base.colour_asked])}
    seconds = {}
    for arm, rows in per_seed.items():
        spreads[arm] = {}
        for figure in FIGURES:
            values = [r[figure] for r in rows if isinstance(r.get(figure), float)]
            spreads[arm][figure] = bootstrap(values) if values else None
        seconds[arm] = sum(r["train_seconds"] for r in rows) / max(1, len(rows))
    print(f"{len(args.train_seeds)} training seeds per arm, {len(args.seeds)} sampling seeds per prompt; "
          "mean [95% bootstrap interval over training seeds]")
    print(render_table(spreads, seconds))
    checks = targets(spreads)
    for text, ok in checks:
        print(f"  {'ok  ' if ok else 'MISS'} {text}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "args": {k: str(v) for k, v in vars(args).items()}, "spec": spec.model_dump(mode="json"),
        "per_seed": per_seed, "train_seconds_per_arm": seconds,
        "spreads": {arm: {f: (vars(s) if s is not None else None) for f, s in row.items()}
                    for arm, row in spreads.items()},
        "targets": [{"claim": text, "met": ok} for text, ok in checks],
    }, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
