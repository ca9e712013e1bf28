"""Efficacy on the toyworld: plain LoRA vs masked-loss LoRA vs tuitune, same data, steps and seeds.

    python benchmarks/efficacy.py [--steps 300] [--images 16] [--out benchmarks/efficacy.json]

The subject "zxq" is a red circle; every training image carries a watermark the user wants gone, and the
background is "don't care". Arms:
  plain    - no masks, original captions (which mention the watermark), uniform loss
  masked   - the same captions, watermark masked out of the loss (weight 0), as kohya/OneTrainer masks do
  tuitune  - intent-derived weights (watermark 0, background 0.1), preservation of the base model on the
             watermark and background (lambda), captions rewritten by the caption optimiser
Each final LoRA is scored with the intent metrics against the same held-out prompts and seeds; the table is
printed and written as JSON. Without the pretrained toyworld model use --model to point at another one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ARMS = ("plain", "masked", "tuitune")
METRICS = ("keep fidelity", "delete absence", "drift outside focus", "drift on neutral prompts", "intent score")


def intent_spec() -> Any:
    from tuitune.intent.spec import Concept, IntentSpec

    return IntentSpec(trigger_words=["zxq"], domain="object", concepts=[
        Concept(name="circle", granularity="instance", operation="keep"),
        Concept(name="watermark", granularity="instance", operation="delete"),
        Concept(name="background", granularity="imagery", operation="keep", loss_weight=0.1),
    ])


def write_dataset(root: Path, count: int, arm: str, spec: Any) -> Path:
    """The same scenes for every arm; only captions and masks differ."""
    from tuitune.intent.captions import optimise
    from tuitune.toyworld.world import WorldSampler

    folder = root / arm / "images"
    folder.mkdir(parents=True, exist_ok=True)
    sampler = WorldSampler(seed=1234, watermark_rate=1.0)
    for i in range(count):
        drawn = sampler.sample(shape="circle", colour="red", watermark=True, trigger="zxq")
        stem = f"img{i:03d}"
        drawn.image.save(folder / f"{stem}.png")
        caption = drawn.caption if "watermark" in drawn.caption else f"{drawn.caption}, watermark"
        if arm == "tuitune":
            caption = optimise(caption, spec)
        (folder / f"{stem}.txt").write_text(caption, encoding="utf-8")
        if arm == "plain":
            continue
        masks = {"watermark": drawn.watermark_mask, "circle": drawn.object_masks[0], "background": drawn.background_mask}
        (folder / "masks" / stem).mkdir(parents=True, exist_ok=True)
        for name, mask in masks.items():
            if mask is not None:
                Image.fromarray((np.asarray(mask, dtype=bool) * 255).astype(np.uint8)).save(
                    folder / "masks" / stem / f"{name}.png")
    return folder


def train_config(arm: str, model: str, data: Path, steps: int, workdir: Path) -> Any:
    from tuitune.train.config import TrainConfig

    loss: dict[str, Any] = {}
    if arm == "masked":
        loss = {"concepts": {"watermark": {"weight": 0.0, "preserve": 0.0}}}
    elif arm == "tuitune":
        loss = {
            "preservation": 1.0, "background_weight": 0.1, "background_preserve": 1.0,
            "concepts": {"watermark": {"weight": 0.0, "preserve": 1.0}, "circle": {"weight": 1.0, "preserve": 0.0},
                         "background": {"weight": 0.1, "preserve": 1.0}},
        }
    return TrainConfig.from_dict({
        "model": {"base": model},
        "data": {"folder": str(data), "resolution": 64, "buckets": False},
        "lora": {"rank": 4, "alpha": 4.0},
        "train": {"steps": steps, "batch_size": 2, "lr": 1e-3, "seed": 0, "device": "cpu",
                  "cache_dir": str(workdir / arm / "cache")},
        "loss": loss,
        "checkpoints": {"every": 0, "keep": 1},
        "samples": {"every": 0, "steps": 20, "guidance": 3.0},
    }, base_dir=workdir / arm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="base model folder (default: the shipped toyworld model)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7001, 7002, 7003, 7004])
    parser.add_argument("--sample-steps", type=int, default=20)
    parser.add_argument("--backend", default="toyworld", help="vision backend name for detector/segmenter/embedder")
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/.efficacy"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/efficacy.json"))
    args = parser.parse_args(argv)

    from tuitune.evaluate.backends import load_backends
    from tuitune.evaluate.runner import EvalSettings, evaluate_run
    from tuitune.generate.pair import load_generator
    from tuitune.jobs.rundir import RunDir
    from tuitune.train.loop import train

    if args.model is None:
        from tuitune.toyworld import model_path

        args.model = str(model_path())
    if not (Path(args.model) / "model_index.json").is_file():
        print(f"efficacy: no base model at {args.model}; pretrain the toyworld model first "
              "(`tuitune toyworld pretrain`) or pass --model.", file=sys.stderr)
        return 2
    spec = intent_spec()
    settings = EvalSettings(
        seeds=args.seeds, steps=args.sample_steps, guidance=3.0, size=64,
        trigger_templates=["{t}", "{t}, a red circle", "a picture of {t}"],
        neutral_prompts=["a blue square", "a green triangle on a white background", "a yellow star"],
        detector=args.backend, segmenter=args.backend, embedder=args.backend,
    )
    backends = load_backends(args.backend, args.backend, args.backend)
    generator = load_generator(args.model)
    table: dict[str, dict[str, Any]] = {}
    for arm in ARMS:
        data = write_dataset(args.workdir, args.images, arm, spec)
        run = RunDir(args.workdir / arm / "run")
        started = time.time()
        if not run.lora_path.is_file():
            train(train_config(arm, args.model, data, args.steps, args.workdir), run)
        trained = time.time() - started
        (run.path / "spec.json").write_text(spec.to_json(), encoding="utf-8")
        rows, _ = evaluate_run(run.path, settings.model_copy(update={"include_final": True}),
                               generator=generator, backends=backends)
        final = next((r for r in rows if r["checkpoint"] == "final"), rows[-1])
        metrics = {m["name"]: m for m in final.get("metrics", [])}
        table[arm] = {
            "train_seconds": round(trained, 1), "status": final["status"], "reason": final.get("reason", ""),
            **{name: metrics.get(name, {}).get("value") for name in METRICS},
            "notes": {name: metrics[name]["reason"] for name in METRICS if name in metrics and metrics[name]["reason"]},
        }
    print(f"{'arm':8} " + " ".join(f"{m[:18]:>18}" for m in METRICS))
    for arm, row in table.items():
        cells = [f"{row[m]:18.3f}" if isinstance(row[m], float) else f"{'n/a':>18}" for m in METRICS]
        print(f"{arm:8} " + " ".join(cells))
    for arm in ("plain", "masked"):
        a, t = table[arm].get("intent score"), table["tuitune"].get("intent score")
        if isinstance(a, float) and isinstance(t, float) and a > 0:
            print(f"tuitune / {arm} intent score: {t / a:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "table": table},
                                   indent=2) + "\n", encoding="utf-8")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
