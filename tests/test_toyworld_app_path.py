"""The sample project as a new user runs it, default settings throughout: detect, train, evaluate. The
checkpoint the evaluation recommends draws the character (a ring, read by the analytic reader) in at least
half of the trigger-word samples, and the watermark the user asked to delete in few."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tuitune.toyworld import model_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (model_path() / "model_index.json").exists(),
                       reason="the toyworld model has not been pretrained into tuitune/toyworld/model yet"),
]


def tuitune(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "tuitune.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"tuitune {' '.join(args)}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def test_the_recommended_checkpoint_of_a_default_sample_run_draws_the_ring(tmp_path: Path) -> None:
    from tuitune.cli.sample import make_sample
    from tuitune.evaluate.prompts import EvalPrompt, EvalPromptSet
    from tuitune.project.project import Project
    from tuitune.toyworld.efficacy import read_run

    root = tmp_path / "toyworld-watermark"
    make_sample(root).close()
    tuitune("dataset", "detect", "--into", ".", cwd=root)
    tuitune("train", ".", cwd=root)
    (run,) = [p for p in (root / "runs").iterdir() if (p / "run.toml").is_file()]
    tuitune("eval", str(run), "--json", cwd=root)

    with Project.open(root, readonly=True) as project:  # what the Train and Generate screens read
        records = project.db.evals(run.name)
    picked = [r.checkpoint for r in records if r.recommended]
    assert len(picked) == 1, [(r.checkpoint, r.score, r.recommended) for r in records]
    checkpoint = picked[0]
    settings = json.loads((run / "eval" / "settings.json").read_text(encoding="utf-8"))
    prompts = EvalPromptSet([EvalPrompt.from_dict(p) for p in settings["prompts"]])
    reading = read_run(run, prompts, checkpoint=checkpoint)
    assert reading.trigger_samples >= 4
    # Measured (train seed 0, the project's detected masks): rings in 4 of 6 trigger samples at step_200; the
    # watermark in 2 of 6 trigger samples and 2 of 18 with the colour prompts (detected masks leak more of it
    # than the generator's true masks do in benchmarks/efficacy.py).
    assert reading.character is not None and reading.character >= 0.5, (checkpoint, reading)
    assert reading.watermark_all is not None and reading.watermark_all <= 0.25, (checkpoint, reading)
