"""Dataset <-> project: detection mirrored into the DB without duplicates, review decisions mirrored, settings used."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tuitune.data.concepts import VisionBackends, detect_concepts, set_decision
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
    for i, colour in enumerate(("red", "blue")):
        Image.new("RGB", (24, 16), colour).save(src / f"p{i}.png")
    root = tmp_path / "proj"
    Project.create(root).close()
    import_folder(src, root)
    return root


def _detect(root: Path) -> None:
    detect_concepts(root, SPEC, VisionBackends.load("whole-image", "box"))


def test_detecting_again_replaces_instance_rows(project: Path) -> None:
    _detect(project)
    with Project.open(project, readonly=True) as proj:
        first = [(i.image, i.concept, i.decision) for i in proj.db.instances()]
    assert len(first) == 4  # two pictures, two concepts, one instance each
    _detect(project)
    _detect(project)
    with Project.open(project, readonly=True) as proj:
        assert [(i.image, i.concept, i.decision) for i in proj.db.instances()] == first
        assert len(proj.db.masks()) == 4


def test_review_decision_reaches_the_project_database(project: Path) -> None:
    _detect(project)
    set_decision(project, "p1", "card", 0, False)
    with Project.open(project, readonly=True) as proj:
        decisions = {(Path(i.image).stem, i.concept): i.decision for i in proj.db.instances()}
    assert decisions[("p1", "card")] == "rejected" and decisions[("p0", "card")] == "accepted"
    assert len(decisions) == 4


def test_clear_instances_by_concept_and_image(project: Path) -> None:
    _detect(project)
    with Project.open(project) as proj:
        assert proj.db.clear_instances(concept="style") == 2
        assert {i.concept for i in proj.db.instances()} == {"card"}
        assert proj.db.clear_instances(image=project / "images" / "p0.png") == 1
        assert proj.db.clear_instances() == 1
        assert proj.db.instances() == []


def test_project_vision_settings_are_the_detect_defaults(project: Path) -> None:
    from tuitune.data.detect_job import DetectRequest, plan

    with Project.open(project) as proj:
        proj.db.save_spec(SPEC.model_dump(mode="json", exclude={"version"}))
        proj.db.save_spec({**SPEC.model_dump(mode="json", exclude={"version"}), "trigger_words": ["qqq"]})
        proj.save_settings(proj.settings.model_copy(update={
            "vision": proj.settings.vision.model_copy(update={"similarity_threshold": 0.35, "detector": "whole-image"})
        }))
    job = plan(DetectRequest(project=str(project)))
    assert (job.threshold, job.detector, job.spec.version, job.spec.trigger_words) == (0.35, "whole-image", 2, ["qqq"])
    job = plan(DetectRequest(project=str(project), threshold=0.9, spec_version=1))
    assert (job.threshold, job.spec.version, job.spec.trigger_words) == (0.9, 1, ["zxq"])
    assert not job.uses_gpu and job.embedder is None  # no reference regions: no embedder loaded
