"""Where evaluation gets its intent and keep references, and how results land in the project database."""

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tuitune.cli import UserError
from tuitune.evaluate.intent_source import load_intent, project_of, read_spec_file
from tuitune.evaluate.project_record import record_in_project
from tuitune.evaluate.recommend import recommend
from tuitune.evaluate.references import resolve_references, training_images
from tuitune.intent.regions import Region
from tuitune.intent.spec import Concept, IntentSpec
from tuitune.jobs.rundir import RunDir
from tuitune.project.db import MIGRATIONS, SCHEMA_VERSION
from tuitune.project.project import Project
from tuitune.vision.protocols import Detection

SAMPLE = Path(__file__).resolve().parents[1] / "sample_projects" / "toyworld-watermark"
HAT = Concept(name="hat", granularity="instance", operation="keep", references=[1])


class RedFinder:
    """Finds the red pixels' box whatever the text asks."""

    def detect(self, image, text):
        rgb = np.asarray(image.convert("RGB")).astype(int)
        mask = (rgb[..., 0] > 150) & (rgb[..., 1] < 80)
        if not mask.any():
            return []
        ys, xs = np.nonzero(mask)
        return [Detection((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), 0.9, text)]


def _picture(path: Path, box=(10, 10, 30, 30)) -> Path:
    image = Image.new("RGB", (48, 48), (128, 128, 128))
    ImageDraw.Draw(image).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(220, 20, 20))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def test_references_come_from_regions_then_masks_then_detection(tmp_path):
    images = tmp_path / "train"
    _picture(images / "10_zxq" / "a.png", box=(4, 4, 20, 24))  # kohya repeat folder
    _picture(images / "b.png")
    (images / "masks" / "a").mkdir(parents=True)
    Image.new("L", (48, 48), 0).save(images / "masks" / "b.png")  # a stray image among masks is not a picture
    assert [p.name for p in training_images(images)] == ["a.png", "b.png"]

    # Nothing but pictures: the detector finds the hat in them.
    refs, source = resolve_references([HAT], images, images / "masks", detector=RedFinder())
    assert source == {"hat": "detected in training images"}
    # Crops keep a margin of context around the box (a tight crop cuts the outline the embedder reads).
    assert sorted(r.size for r in refs["hat"]) == [(20, 26), (26, 26)]

    # A mask named after the concept wins over detection.
    mask = Image.new("L", (48, 48), 0)
    ImageDraw.Draw(mask).rectangle((4, 4, 11, 11), fill=255)
    mask.save(images / "masks" / "a" / "hat.png")
    refs, source = resolve_references([HAT], images, images / "masks", detector=RedFinder())
    assert source == {"hat": "training masks"} and [r.size for r in refs["hat"]] == [(10, 10)]

    # The numbered region the concept points at wins over both.
    region = Region(1, str(_picture(tmp_path / "ref.png")), (8.0, 8.0, 32.0, 40.0))
    refs, source = resolve_references([HAT], images, images / "masks", [region], RedFinder())
    assert source == {"hat": "intent regions"} and [r.size for r in refs["hat"]] == [(32, 42)]

    # No source at all: the concept is absent, so keep fidelity says so instead of scoring 0.
    refs, source = resolve_references([HAT], tmp_path / "nothing", tmp_path / "nothing")
    assert refs == {} and source == {}


def test_spec_file_may_be_intent_text_or_json(tmp_path):
    spec, origin = read_spec_file(SAMPLE / "intent.txt")
    assert "rules parser" in origin
    assert {c.name: c.operation.value for c in spec.concepts}["watermark"] == "delete"
    assert spec.trigger_words == ["zxq"]
    (tmp_path / "spec.json").write_text(spec.to_json())
    assert read_spec_file(tmp_path / "spec.json")[0] == spec
    (tmp_path / "bad.json").write_text('{"concepts": 3}')
    with pytest.raises(UserError, match="not a valid intent spec"):
        read_spec_file(tmp_path / "bad.json")
    with pytest.raises(UserError, match="does not exist"):
        read_spec_file(tmp_path / "missing.json")


def _project_run(tmp_path: Path) -> tuple[Project, RunDir]:
    project = Project.create(tmp_path / "proj")
    run = RunDir(project.runs_dir / "r1").create()
    return project, run


def test_project_run_uses_the_spec_version_it_trained_on_and_the_projects_regions(tmp_path):
    project, run = _project_run(tmp_path)
    first = IntentSpec(trigger_words=["zxq"], concepts=[HAT])
    project.db.save_spec(first.model_dump(mode="json", exclude={"version"}))
    project.db.save_spec(IntentSpec(trigger_words=["other"]).model_dump(mode="json", exclude={"version"}))
    ref = _picture(project.root / "images" / "ref.png")
    project.db.add_turn("user", "keep the hat [1]", None, [Region(1, "images/ref.png", (8, 8, 32, 32)).to_dict()])
    project.close()

    assert project_of(run) == project.root and project_of(RunDir(tmp_path / "alone")) is None
    latest = load_intent(run)
    assert latest.spec.trigger_words == ["other"] and "version 2" in latest.origin
    trained_on = load_intent(run, spec_version=1)
    assert trained_on.spec.trigger_words == ["zxq"] and trained_on.spec.version == 1
    # The region's image path was stored relative to the project and resolves inside it.
    assert [(r.number, Path(r.image)) for r in trained_on.regions] == [(1, ref)]
    with pytest.raises(UserError, match="pass --spec"):
        load_intent(RunDir(tmp_path / "alone").create())


def _row(label, step, score, status="ok"):
    return {"checkpoint": label, "step": step, "status": status, "settings": "s1", "spec_version": 1, "time": 1.0,
            "metrics": [{"name": "delete absence", "value": 1.0, "reason": ""},
                        {"name": "intent score", "value": score, "reason": "parts"}]}


def test_evaluation_is_recorded_in_the_project_with_the_recommended_checkpoint(tmp_path):
    project, run = _project_run(tmp_path)
    project.close()
    rows = [_row("step_100", 100, 0.6), _row("step_200", 200, 0.8), _row("step_300", 300, None, "failed")]
    assert record_in_project(project.root, run, rows, recommend(rows)) is None
    # A second evaluation of one checkpoint adds a row; the recommendation moves to it.
    again = [_row("step_100", 100, 0.9)]
    assert record_in_project(project.root, run, again, recommend(rows + again)) is None
    with Project.open(project.root, readonly=True) as reopened:
        records = reopened.db.evals("r1")
    assert [(r.checkpoint, r.score, r.status) for r in records] == [
        ("step_100", 0.6, "ok"), ("step_200", 0.8, "ok"), ("step_300", None, "failed"), ("step_100", 0.9, "ok")]
    assert [r.id for r in records if r.recommended] == [records[-1].id]
    assert records[0].metrics[0] == {"name": "delete absence", "value": 1.0, "reason": ""}


def test_recording_while_the_app_holds_the_project_still_lands(tmp_path):
    project, run = _project_run(tmp_path)  # this process holds the writer lock, as the app does
    try:
        assert record_in_project(project.root, run, [_row("step_1", 1, 0.5)], None) is None
        assert [r.checkpoint for r in project.db.evals()] == ["step_1"]
    finally:
        project.close()


def test_a_version_2_database_gains_the_eval_table_and_keeps_its_data(tmp_path):
    Project.create(tmp_path / "p").close()
    db_path = tmp_path / "p" / "tuitune.db"
    db_path.unlink()
    for leftover in db_path.parent.glob("tuitune.db*"):
        leftover.unlink()
    with sqlite3.connect(db_path) as conn:
        for script in MIGRATIONS[:2]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 2")
        conn.execute("INSERT INTO runs (name, kind, path, created) VALUES ('r1', 'train', 'runs/r1', 1)")
    conn.close()
    with Project.open(tmp_path / "p") as project:
        assert project.db.schema_version == SCHEMA_VERSION >= 3
        assert [r.name for r in project.db.runs()] == ["r1"]
        project.db.record_evals("r1", [_row("final", None, 0.7)], "final")
        [record] = project.db.evals("r1")
        assert record.step is None and record.recommended and record.score == 0.7
    assert (tmp_path / "p" / "tuitune.db.schema2.bak").is_file()


def test_keep_references_come_from_the_projects_accepted_instances(tmp_path: Path) -> None:
    """No numbered regions, no training masks: the project's accepted instances of the concept serve, and a
    rejected instance or a picture outside the project does not."""
    import json

    from PIL import Image

    from tuitune.evaluate.references import resolve_references
    from tuitune.intent.spec import Concept

    root = tmp_path / "proj"
    (root / "images").mkdir(parents=True)
    items = []
    for i, colour in enumerate(("red", "blue", "green")):
        Image.new("RGB", (64, 64), colour).save(root / "images" / f"p{i}.png")
        items.append({"stem": f"p{i}", "path": f"images/p{i}.png", "caption": "", "repeats": 1, "width": 64,
                      "height": 64, "hash": str(i)})
    (root / "dataset.json").write_text(json.dumps({"version": 1, "items": items}), encoding="utf-8")
    box = [8, 8, 40, 40]
    masks = {"p0": {"ring": {"instances": [{"box": box, "accepted": True}]}},
             "p1": {"ring": {"instances": [{"box": box, "accepted": False}]}},
             "p2": {"ring": {"instances": [{"box": box, "accepted": True}]}}}
    (root / "masks.json").write_text(json.dumps({"version": 1, "masks": masks}), encoding="utf-8")
    ring = Concept(name="ring", granularity="instance", operation="keep")
    refs, source = resolve_references([ring], tmp_path / "none", tmp_path / "none", project_root=root)
    assert source == {"ring": "the project's accepted instances"}
    colours = sorted(crop.getpixel((crop.width // 2, crop.height // 2)) for crop in refs["ring"])
    assert colours == [(0, 128, 0), (255, 0, 0)]  # green and red; the rejected blue one is not a reference
