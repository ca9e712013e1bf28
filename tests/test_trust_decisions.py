"""The user's accept/reject decisions, and the masks they imported, survive detecting again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuitune.data.concepts import DetectProgress, VisionBackends, iter_detect, load_mask, set_decision
from tuitune.data.dataset import Dataset
from tuitune.data.importer import import_folder
from tuitune.intent.spec import IntentSpec
from tuitune.project.project import Project
from tuitune.vision.protocols import Detection
from tuitune.vision.registry import load_segmenter

SPEC = IntentSpec.model_validate({"trigger_words": ["zxq"], "concepts": [
    {"name": "card", "granularity": "instance", "operation": "keep"},
]})


class ScriptedDetector:
    """Finds the boxes it is given, in every picture: a detector whose boxes move a little between runs."""

    def __init__(self, boxes: list[tuple[float, float, float, float]]) -> None:
        self.boxes = boxes

    def detect(self, image: Image.Image, text: str) -> list[Detection]:
        return [Detection(box, 0.9, text) for box in self.boxes]


def _detect(root: Path, boxes: list[tuple[float, float, float, float]]) -> list[DetectProgress]:
    backends = VisionBackends(ScriptedDetector(boxes), load_segmenter("box"))
    return list(iter_detect(root, SPEC, backends))


def _boxes(root: Path, stem: str) -> list[tuple[list[float], bool]]:
    return [(inst["box"], inst["accepted"]) for inst in Dataset(root).masks_index()[stem]["card"]["instances"]]


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    src = tmp_path / "pics"
    src.mkdir()
    for i, colour in enumerate(("red", "blue")):
        Image.new("RGB", (48, 32), colour).save(src / f"p{i}.png")
    root = tmp_path / "proj"
    Project.create(root).close()
    import_folder(src, root, make_thumbnails=False)
    return root


LEFT, RIGHT = (2.0, 2.0, 14.0, 14.0), (24.0, 2.0, 36.0, 14.0)


def test_decisions_survive_detecting_again_when_the_boxes_move_a_little(project: Path) -> None:
    _detect(project, [LEFT, RIGHT])
    assert _boxes(project, "p0") == [(list(LEFT), True), (list(RIGHT), True)]
    set_decision(project, "p0", "card", 0, False)  # the user rejects the left card ...
    set_decision(project, "p0", "card", 1, False)
    set_decision(project, "p0", "card", 1, True)  # ... and, after a second thought, accepts the right one

    moved_left, moved_right, new = (3.0, 2.0, 15.0, 15.0), (24.0, 3.0, 37.0, 14.0), (2.0, 20.0, 10.0, 30.0)
    events = _detect(project, [moved_left, moved_right, new])

    assert _boxes(project, "p0") == [(list(moved_left), False), (list(moved_right), True), (list(new), True)]
    assert {e.stem: e.decisions_kept for e in events} == {"p0": 2, "p1": 0}  # what the progress says
    assert all(accepted for _box, accepted in _boxes(project, "p1"))  # no decision there: what detection found
    mask = load_mask(Dataset(project), "p0", "card")
    assert mask is not None and not mask[8, 8] and mask[8, 30] and mask[25, 5]  # the mask follows the decisions
    with Project.open(project, readonly=True) as proj:
        decisions = [(i.box, i.decision) for i in proj.db.instances() if Path(i.image).stem == "p0"]
    assert decisions == [(moved_left, "rejected"), (moved_right, "accepted"), (new, "accepted")]

    # Detecting a third time with the very same boxes keeps them too (a rejected one is not re-accepted).
    events = _detect(project, [moved_left, moved_right, new])
    assert _boxes(project, "p0")[0] == (list(moved_left), False)
    assert events[0].decisions_kept == 2


def test_a_decided_instance_detection_no_longer_finds_is_kept_with_its_mask(project: Path) -> None:
    _detect(project, [LEFT, RIGHT])
    set_decision(project, "p0", "card", 0, True)  # the user confirms the left card
    set_decision(project, "p0", "card", 1, False)

    events = _detect(project, [(30.0, 18.0, 44.0, 30.0)])  # finds only a card elsewhere

    assert _boxes(project, "p0") == [([30.0, 18.0, 44.0, 30.0], True), (list(LEFT), True), (list(RIGHT), False)]
    mask = load_mask(Dataset(project), "p0", "card")
    # The kept left card's own mask file was not written over by the new instance: it is still drawn.
    assert mask is not None and mask[8, 8] and mask[24, 36] and not mask[8, 30]
    assert events[0].decisions_kept == 2


def test_a_decision_made_while_detection_runs_is_kept_on_a_moved_box(project: Path) -> None:
    _detect(project, [LEFT])
    backends = VisionBackends(ScriptedDetector([(3.0, 3.0, 15.0, 14.0)]), load_segmenter("box"))
    events = iter_detect(project, SPEC, backends)
    next(events)  # p0 detected again; the user rejects its card in the app before the run ends
    set_decision(project, "p0", "card", 0, False)
    list(events)
    assert _boxes(project, "p0") == [([3.0, 3.0, 15.0, 14.0], False)]
    mask = load_mask(Dataset(project), "p0", "card")
    assert mask is not None and not mask.any()


def test_an_imported_mask_is_not_detected_over(tmp_path: Path) -> None:
    src = tmp_path / "pics"
    (src / "masks" / "p0").mkdir(parents=True)
    Image.new("RGB", (48, 32), "red").save(src / "p0.png")
    hand = np.zeros((32, 48), dtype=np.uint8)
    hand[10:20, 30:40] = 255
    Image.fromarray(hand, "L").save(src / "masks" / "p0" / "card.png")
    root = tmp_path / "ds"
    import_folder(src, root, make_thumbnails=False)

    events = _detect(root, [LEFT])

    assert np.array_equal(load_mask(Dataset(root), "p0", "card"), hand > 0)
    assert Dataset(root).masks_index()["p0"]["card"]["source"] == "imported"
    assert events[0].decisions_kept == 1
