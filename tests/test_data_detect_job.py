"""The detect job through the real worker: masks and DB rows for a project, STOP honoured, no duplicate rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuitune import cli
from tuitune.data.dataset import Dataset
from tuitune.data.importer import import_folder
from tuitune.jobs.queue import create_run
from tuitune.jobs.rundir import ControlRequest, RunDir
from tuitune.project.project import Project
from tuitune.toyworld.world import WorldSampler

SPEC = {"trigger_words": ["zxq"], "concepts": [
    {"name": "ring", "granularity": "instance", "operation": "keep"},
    {"name": "watermark", "granularity": "instance", "operation": "delete"},
    {"name": "background", "granularity": "imagery", "operation": "modify", "loss_weight": 0.1, "preserve": 1.0},
]}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    sampler = WorldSampler(seed=5, shapes=("ring",), two_tone_rate=0.0)
    src = tmp_path / "pics"
    src.mkdir()
    for i in range(3):
        drawn = sampler.sample(watermark=True, trigger="zxq")
        drawn.image.save(src / f"p{i}.png")
        (src / f"p{i}.txt").write_text(drawn.caption)
    root = tmp_path / "proj"
    with Project.create(root) as proj:
        proj.db.save_spec(SPEC, message="first")
    import_folder(src, root)
    return root


def _work(run: RunDir) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "tuitune.jobs.worker", str(run.path)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_detect_job_writes_masks_and_db_rows_while_the_app_holds_the_project(project: Path) -> None:
    run = create_run(project / "runs", "detect", {"detect": {"project": str(project)}}, gpu=False)
    with Project.open(project) as app:  # the app keeps the writer lock; the job works on its behalf
        result = _work(run)
        assert result.returncode == 0, result.stderr + (run.log_path.read_text() if run.log_path.exists() else "")
        status = run.read_status()
        assert status["state"] == "finished" and status["step"] == status["total_steps"] == 3
        dataset = Dataset(project)
        for item in dataset.items():
            for concept in ("ring", "watermark", "background"):
                mask = np.asarray(Image.open(dataset.mask_path(item.stem, concept))) > 127
                assert mask.any(), (item.stem, concept)
        assert {m.concept for m in app.db.masks()} == {"ring", "watermark", "background"}
        assert len(app.db.masks()) == 9
        first = len(app.db.instances())
        assert first >= 9
    done = {e["concept"]: e for e in run.read_events() if e["kind"] == "concept_detected"}
    assert set(done) == {"ring", "watermark", "background"}
    assert done["watermark"]["images"] == 3 and done["watermark"]["operation"] == "delete"

    # Detecting again replaces the rows; it does not add to them.
    again = create_run(project / "runs", "detect", {"detect": {"project": str(project)}}, gpu=False)
    assert _work(again).returncode == 0
    with Project.open(project, readonly=True) as proj:
        assert len(proj.db.instances()) == first


def test_stop_request_ends_the_job_after_the_current_image_and_keeps_its_masks(project: Path) -> None:
    run = create_run(project / "runs", "detect", {"detect": {"project": str(project), "concepts": ["watermark"]}},
                     gpu=False)
    run.request(ControlRequest.STOP)
    _work(run)
    assert run.read_status()["state"] == "stopped"
    index = json.loads((project / "masks.json").read_text())["masks"]
    assert list(index) == ["p0"] and list(index["p0"]) == ["watermark"]
    with Project.open(project, readonly=True) as proj:
        assert [m.concept for m in proj.db.masks()] == ["watermark"]


def test_a_run_queued_in_the_project_needs_no_project_path(project: Path) -> None:
    # The app's run.toml names the spec version and backends only; the run lives in the project's runs/.
    config = {"detect": {"spec_version": 1, "detector": "analytic", "segmenter": "analytic", "embedder": "analytic",
                         "threshold": 0.8, "concepts": ["watermark"]}}
    run = create_run(project / "runs", "detect", config, gpu=False)
    assert _work(run).returncode == 0
    assert run.read_status()["state"] == "finished"
    assert set(json.loads((project / "masks.json").read_text())["masks"]) == {"p0", "p1", "p2"}


def test_bad_request_fails_with_one_sentence(project: Path) -> None:
    run = create_run(project / "runs", "detect", {"detect": {"project": str(project), "spec_version": 7}}, gpu=False)
    _work(run)
    status = run.read_status()
    assert status["state"] == "failed"
    assert "no spec version 7" in status["message"] and "\n" not in status["message"]


def test_cli_detach_queues_a_job_and_a_bare_folder_refuses(project: Path, tmp_path: Path, capsys,
                                                           monkeypatch) -> None:
    launched: list[RunDir] = []
    monkeypatch.setattr("tuitune.jobs.queue.launch", lambda run, **kw: launched.append(run) or 0)
    assert cli.main(["dataset", "detect", "--into", str(project), "--detach", "--threshold", "0.5"]) == 0
    assert len(launched) == 1
    config = (launched[0].run_toml).read_text()
    assert 'kind = "detect"' in config and "threshold = 0.5" in config
    assert "queued" in capsys.readouterr().out
    assert cli.main(["dataset", "detect", "--into", str(tmp_path / "pics"), "--detach"]) == 2
    assert "not a project" in capsys.readouterr().err
