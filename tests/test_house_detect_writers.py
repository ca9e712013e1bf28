"""A detection running in the background keeps the review decisions the user makes meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tuitune.data.concepts import VisionBackends, detect_concepts, iter_detect, set_decision
from tuitune.data.dataset import Dataset
from tuitune.data.importer import import_folder
from tuitune.intent.spec import IntentSpec
from tuitune.project.project import Project

SPEC = IntentSpec.model_validate({"trigger_words": ["zxq"], "concepts": [
    {"name": "card", "granularity": "instance", "operation": "keep"},
    {"name": "style", "granularity": "imagery", "operation": "keep"},
]})


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    src = tmp_path / "pics"
    src.mkdir()
    for i, colour in enumerate(("red", "blue", "green")):
        Image.new("RGB", (24, 16), colour).save(src / f"p{i}.png")
    root = tmp_path / "proj"
    Project.create(root).close()
    import_folder(src, root)
    detect_concepts(root, SPEC, VisionBackends.load("whole-image", "box"))
    return root


def _decisions(root: Path) -> tuple[dict, dict]:
    """(stem, concept) -> accepted, from masks.json and from the project database."""
    index = Dataset(root).masks_index()
    files = {(stem, c): e["instances"][0]["accepted"] for stem, per in index.items() for c, e in per.items()}
    with Project.open(root, readonly=True) as proj:
        db = {(Path(i.image).stem, i.concept): i.decision == "accepted" for i in proj.db.instances()}
    return files, db


def test_a_decision_made_while_a_detection_runs_survives_its_end(project: Path) -> None:
    # A job detects "card" again, image by image, on behalf of the app that holds the writer lock...
    with Project.open(project) as app:
        events = iter_detect(project, SPEC, VisionBackends.load("whole-image", "box"), concepts=["card"],
                             delegate=True)
        next(events)
        # ...while the user rejects the style of p0 (already passed) and p2 (not reached yet).
        set_decision(project, "p0", "style", 0, False)
        set_decision(project, "p2", "style", 0, False)
        list(events)
        assert app.db.instances()  # the app's connection still reads the database
    files, db = _decisions(project)
    assert files[("p2", "style")] is False and db[("p2", "style")] is False
    assert files[("p0", "style")] is False and db[("p0", "style")] is False
    # What the job detected again is there, and nothing else changed.
    assert files[("p1", "card")] is True and files[("p1", "style")] is True
    assert len(files) == 6 and len(db) == 6


def test_a_stopped_detection_keeps_what_it_found_and_what_the_user_decided(project: Path) -> None:
    events = iter_detect(project, SPEC, VisionBackends.load("whole-image", "box"), concepts=["style"])
    next(events)
    set_decision(project, "p1", "card", 0, False)
    events.close()  # the job was stopped after its first image
    files, db = _decisions(project)
    assert files[("p1", "card")] is False and db[("p1", "card")] is False
    assert len(files) == 6
