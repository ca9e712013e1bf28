"""Rejecting a detected instance in the app redraws the concept's mask and records the decision in the project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tuitune.data.concepts import VisionBackends, detect_concepts, load_mask
from tuitune.data.dataset import Dataset
from tuitune.data.importer import iter_import
from tuitune.intent.spec import IntentSpec
from tuitune.project.project import Project
from tuitune.ui.project_view import ProjectView

SPEC = IntentSpec.model_validate({"trigger_words": ["zxq"], "concepts": [
    {"name": "card", "granularity": "instance", "operation": "delete"},
]})


def test_rejecting_an_instance_in_the_app_empties_its_mask_for_training(tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    for i, colour in enumerate(("red", "green")):
        Image.new("RGB", (24, 16), colour).save(pics / f"p{i}.png")
    root = tmp_path / "proj"
    with Project.create(root):
        pass
    list(iter_import(pics, root, make_thumbnails=False))
    detect_concepts(root, SPEC, VisionBackends.load("whole-image", "box"))
    assert np.any(load_mask(Dataset(root), "p0", "card"))

    # The app holds the project open (its writer lock) while the user decides.
    with Project.open(root) as project:
        view = ProjectView(root, handle=project)
        view.set_instance_accepted("p0", "card", 0, False)
        decisions = {Path(i.image).stem: i.decision for i in project.db.instances(concept="card")}

    assert not np.any(load_mask(Dataset(root), "p0", "card"))  # what training reads
    assert np.any(load_mask(Dataset(root), "p1", "card"))  # the other picture keeps its mask
    assert Dataset(root).masks_index()["p0"]["card"]["instances"][0]["accepted"] is False
    assert decisions == {"p0": "rejected", "p1": "accepted"}
