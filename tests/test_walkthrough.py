"""A new user's path through the CLI on the shipped sample and the shipped toyworld model: open the sample,
detect concepts as a job, train as a job, then draw base vs LoRA for the trigger prompt."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from PIL import Image

from tuitune.cli import main
from tuitune.jobs.rundir import RunDir, RunState

TEMPLATE = Path(__file__).parents[1] / "sample_projects" / "toyworld-watermark"


def _wait(run: Path, timeout: float) -> RunState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = RunDir(run).state()
        if state.is_final:
            return state
        time.sleep(0.5)
    raise AssertionError(f"{run.name} did not end in {timeout} s: {RunDir(run).read_status()}")


def _only_run(project: Path, kind: str) -> Path:
    runs = [p for p in (project / "runs").iterdir() if p.name.startswith(kind)]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_sample_project_from_open_to_base_vs_lora(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    project = tmp_path / "toyworld-watermark"
    assert main(["open", str(TEMPLATE), "--copy-to", str(project)]) == 2  # made; the app needs a terminal
    assert main(["info", str(project)]) == 0
    assert "32 images" in capsys.readouterr().out

    # Concepts: detection runs as a job and writes masks the Dataset screen shows.
    assert main(["dataset", "detect", "--into", str(project), "--detach"]) == 0
    detect = _only_run(project, "detect")
    assert _wait(detect, 120) is RunState.FINISHED, RunDir(detect).read_status()
    watermarked = [p.parent.name for p in (TEMPLATE / "ground_truth").glob("*/watermark.png")]
    assert len(watermarked) == 28  # seven pictures in eight
    for stem in watermarked:
        mask = np.asarray(Image.open(project / "masks" / stem / "watermark.png")) > 127
        h, w = mask.shape
        assert mask.any() and mask[h // 2:, w // 2:].sum() == mask.sum(), stem  # the bottom-right mark

    # Train: a short run, set up the way a user edits the form defaults.
    settings = tomllib.loads((project / "train.toml").read_text(encoding="utf-8"))
    settings["train"]["batch_size"] = 4
    settings["samples"]["every"] = 0
    settings["checkpoints"]["every"] = 0
    (project / "train.toml").write_text(tomli_w.dumps(settings), encoding="utf-8")
    assert main(["train", str(project), "--steps", "12", "--detach"]) == 0
    train = _only_run(project, "train")
    assert _wait(train, 300) is RunState.FINISHED, RunDir(train).read_status()
    assert (train / "lora.safetensors").is_file()
    rows = RunDir(train).read_metrics()
    assert len(rows) == 12 and all(np.isfinite(r["loss"]) for r in rows)
    capsys.readouterr()
    assert main(["runs", "--project", str(project)]) == 0
    assert "finished at step 12/12" in capsys.readouterr().out

    # Generate: same prompt and seed, base vs LoRA.
    out = project / "generations"
    assert main(["generate", "zxq", "--model", "toyworld", "--lora", str(train), "--seed", "0",
                 "--steps", "8", "--guidance", "3", "--out", str(out)]) == 0
    base = np.asarray(Image.open(next(out.glob("*-base.png"))), dtype=np.float32)
    lora = np.asarray(Image.open(next(out.glob("*-lora.png"))), dtype=np.float32)
    assert base.shape == lora.shape == (64, 64, 3)
    assert np.abs(base - lora).mean() > 1.0
