"""Evaluating a training run's checkpoints on a tiny SD1 model: cache, eval.jsonl, failures, recommendation."""

import json
import subprocess
import sys

import pytest

from tuitune.evaluate.recommend import recommend
from tuitune.evaluate.runner import EvalSettings, evaluate_run, read_eval_rows
from tuitune.generate.pair import load_generator
from tuitune.intent.spec import Concept, IntentSpec
from tuitune.jobs.rundir import RunDir

pytestmark = pytest.mark.slow
# The installed console script's way in (``python -m tuitune.cli`` would load cli.py twice).
TUITUNE = [sys.executable, "-c", "import sys; from tuitune.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from test_generate_pair import make_lora
    from tiny_pipelines import build_sd1, make_dataset

    root = tmp_path_factory.mktemp("evalrun")
    model = build_sd1(root / "model")
    data = make_dataset(root / "images", count=2, with_masks=True)
    run = RunDir(root / "runs" / "r1").create()
    run.run_toml.write_text(
        f'[job]\nkind = "train"\n[model]\nbase = "{model}"\n[data]\nfolder = "{data}"\nresolution = 32\n'
        f'[samples]\nsteps = 2\nguidance = 2.0\n',
        encoding="utf-8",
    )
    for step, strength in ((10, 0.5), (20, 6.0)):
        folder = run.checkpoint_dir(step)
        make_lora(model, folder, seed=step, strength=strength)
        (folder / "COMPLETE").write_text(f"{step}\n")
    broken = run.checkpoint_dir(30)
    broken.mkdir()
    (broken / "lora.safetensors").write_bytes(b"not a safetensors file")
    (broken / "COMPLETE").write_text("30\n")
    spec = IntentSpec(trigger_words=["sks"], concepts=[
        Concept(name="watermark", granularity="instance", operation="delete"),
    ])
    (run.path / "spec.json").write_text(spec.to_json(), encoding="utf-8")
    return run, model


SETTINGS = EvalSettings(
    seeds=[5], trigger_templates=["{t}", "a photo of {t} square"], neutral_prompts=["a red circle"],
    detector="whole-image", embedder="colour-histogram",
)


def test_each_checkpoint_scored_broken_one_reported_and_best_recommended(run_dir):
    run, model = run_dir
    gen = load_generator(str(model))
    rows, pick = evaluate_run(run.path, SETTINGS, generator=gen)
    by = {r["checkpoint"]: r for r in rows}
    assert set(by) == {"step_10", "step_20", "step_30"}
    assert by["step_30"]["status"] == "failed" and "lora.safetensors" in by["step_30"]["reason"]
    for label in ("step_10", "step_20"):
        metrics = {m["name"]: m for m in by[label]["metrics"]}
        # No keep concept in the spec: n/a with the reason, never 0.
        assert metrics["keep fidelity"]["value"] is None
        assert "no keep concepts" in metrics["keep fidelity"]["reason"]
        assert metrics["drift on neutral prompts"]["value"] > 0
    # "a photo of sks square" is an exact training caption: held out.
    assert by["step_10"]["excluded_prompts"] == ["a photo of sks square"]
    assert by["step_10"]["prompts"] == 2  # "sks" and the neutral prompt, one seed each
    # The weaker LoRA moves the neutral prompt less than the strong one.
    drift = {lab: {m["name"]: m["value"] for m in by[lab]["metrics"]}["drift on neutral prompts"]
             for lab in ("step_10", "step_20")}
    assert drift["step_10"] < drift["step_20"]
    assert pick is not None and pick.checkpoint == "step_10" and "intent score" in pick.reason
    assert len(read_eval_rows(run)) == 3
    assert (run.path / "eval" / "step_10").is_dir() and (run.path / "eval" / "base").is_dir()

    # A second evaluation of one checkpoint reuses the cached samples and gives the same numbers.
    cached = sorted((run.path / "eval" / "step_10").glob("*.png"))
    mtimes = [p.stat().st_mtime_ns for p in cached]
    again, _ = evaluate_run(run.path, SETTINGS.model_copy(update={"checkpoints": [10]}), generator=gen)
    assert [p.stat().st_mtime_ns for p in cached] == mtimes
    assert again[0]["metrics"] == by["step_10"]["metrics"]


def test_recommend_ignores_failed_and_prefers_the_earlier_on_ties():
    def row(label, step, score, status="ok"):
        return {"checkpoint": label, "step": step, "status": status,
                "metrics": [{"name": "intent score", "value": score, "reason": "parts"}]}

    assert recommend([row("step_1", 1, 0.5), row("step_2", 2, 0.9, "failed")]).checkpoint == "step_1"
    assert recommend([row("step_1", 1, 0.7), row("step_2", 2, 0.7)]).checkpoint == "step_1"
    assert recommend([row("step_1", 1, 0.5), row("step_1", 1, 0.8), row("step_2", 2, 0.7)]).checkpoint == "step_1"
    assert recommend([row("step_1", 1, None)]) is None


def test_cli_eval_prints_table_and_missing_run_is_one_sentence(run_dir, tmp_path):
    run, _ = run_dir
    cmd = [*TUITUNE, "eval", str(run.path), "--checkpoint", "10", "--seed", "5",
           "--detector", "whole-image"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "step_10" in result.stdout and "Recommended: step_10" in result.stdout
    assert "modify: n/a because the spec has no modify concepts" in result.stdout.replace("modify flexibility", "modify")
    bad = subprocess.run([*TUITUNE, "eval", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a run folder" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run([*TUITUNE, "eval", str(run.path), "--checkpoint", "99"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no checkpoint at step 99" in missing.stderr
    rows = [json.loads(line) for line in (run.path / "eval.jsonl").read_text().splitlines()]
    assert rows[-1]["checkpoint"] == "step_10"


def _row(label, step, score, found, samples=12, missing=None):
    keep = {"name": "keep fidelity", "value": 0.8 if found is not None else None,
            "reason": "" if found is not None else "no reference regions for 'ring'",
            "details": {"concepts": {"ring": {"value": 0.8, "missed": samples - found, "samples": samples}}
                        if found is not None else {"ring": {"value": None, "reason": "no reference regions"}}}}
    parts = {"keep fidelity": 0.8} if found is not None else {}
    score_metric = {"name": "intent score", "value": score, "reason": "parts",
                    "details": {"parts": parts, "missing": missing or {},
                                "confidence": 1.0 if not missing else 0.75}}
    return {"checkpoint": label, "step": step, "status": "ok", "metrics": [keep, score_metric]}


def test_a_checkpoint_that_lost_the_kept_concept_is_never_recommended_over_one_that_kept_it():
    # step_200 scores higher but draws the ring in 2 of 12 trigger samples; step_100 draws it in 10 of 12.
    pick = recommend([_row("step_100", 100, 0.60, found=10), _row("step_200", 200, 0.90, found=2)])
    assert pick.checkpoint == "step_100"
    assert "step_200 scores 0.900 but drew 'ring' in 2/12 trigger samples" in pick.reason
    # A keep that could not be measured ranks between the two, and the recommendation says so.
    unknown = _row("step_300", 300, 0.95, found=None, missing={"keep fidelity": "no reference regions"})
    assert recommend([_row("step_200", 200, 0.90, found=2), unknown]).checkpoint == "step_300"
    pick = recommend([unknown])
    assert "unknown" in pick.reason and pick.confidence < 1.0
    assert recommend([_row("step_100", 100, 0.60, found=10), unknown]).checkpoint == "step_100"


def test_intent_score_names_a_part_it_could_not_measure_and_lowers_confidence():
    from tuitune.evaluate.metrics import MetricResult, intent_score

    parts = [MetricResult("keep fidelity", None, "no reference regions for 'ring'"),
             MetricResult("modify flexibility", None, "the spec has no modify concepts with alternatives"),
             MetricResult("delete absence", 1.0), MetricResult("drift outside focus", 0.05)]
    score = intent_score(parts)
    assert score.details["confidence"] == pytest.approx(2 / 3)
    assert "not measured: keep fidelity (no reference regions for 'ring')" in score.reason
    assert "confidence 2/3" in score.reason and "modify" not in score.details["missing"]
