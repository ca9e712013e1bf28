"""Writers of dataset.json and masks.json that overlap (app, detection, augmentation, import) lose no change."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuitune import atomic
from tuitune.cli import UserError
from tuitune.data.augment import augment
from tuitune.data.concepts import VisionBackends, detect_concepts, iter_detect, load_mask
from tuitune.data.dataset import Dataset, DatasetItem
from tuitune.data.importer import iter_import
from tuitune.intent.spec import IntentSpec
from tuitune.ui.project_view import ProjectView

UPDATES = 200


def _add_entries(root: str, worker: int, start: object) -> None:
    """One writer process: UPDATES small read-modify-write changes to each file, through the API."""
    dataset = Dataset(Path(root))
    start.wait()  # type: ignore[attr-defined]
    for n in range(UPDATES):
        stem = f"w{worker}-{n}"
        dataset.update_masks_index(lambda index, s=stem: {**index, s: {"shape": {"path": "", "instances": []}}})
        dataset.update_items(lambda items, s=stem: [*items, DatasetItem(s, f"images/{s}.png", "", 1, 8, 8, "")])


@pytest.mark.slow
def test_two_processes_updating_the_same_files_lose_no_change(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_add_entries, args=(str(tmp_path), w, start)) for w in (0, 1)]
    for proc in workers:
        proc.start()
    start.set()  # both begin together so their updates overlap
    for proc in workers:
        proc.join(timeout=300)
        assert proc.exitcode == 0
    dataset = Dataset(tmp_path)
    expected = {f"w{w}-{n}" for w in (0, 1) for n in range(UPDATES)}
    assert set(dataset.masks_index()) == expected
    stems = [item.stem for item in dataset.items()]
    assert len(stems) == 2 * UPDATES and set(stems) == expected


def test_a_writer_stuck_holding_the_lock_gives_one_sentence_and_changes_nothing(tmp_path: Path) -> None:
    dataset = Dataset(tmp_path, lock_timeout=0.2)
    dataset.save_masks_index({"p0": {}})
    before = (tmp_path / "masks.json").read_bytes()
    with atomic.exclusive(tmp_path / "masks.json"):  # another writer, in the middle of its update
        with pytest.raises(UserError) as caught:
            dataset.update_masks_index(lambda index: {**index, "p1": {}})
    message = str(caught.value)
    assert "masks.json" in message and str(tmp_path) in message and "try again" in message
    assert "\n" not in message and message.count(". ") == 0 and message.endswith(".")
    assert isinstance(caught.value, OSError)  # screens that report a failed write by OSError show it too
    assert (tmp_path / "masks.json").read_bytes() == before
    # Once the other writer is done, the same change goes through.
    assert set(dataset.update_masks_index(lambda index: {**index, "p1": {}})) == {"p0", "p1"}


def test_a_change_that_fails_halfway_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    dataset = Dataset(tmp_path, lock_timeout=0.5)
    dataset.save_items([DatasetItem("p0", "images/p0.png", "a red card", 1, 8, 8, "")])
    before = (tmp_path / "dataset.json").read_bytes()

    def broken(items: list[DatasetItem]) -> list[DatasetItem]:
        items[0].caption = "half done"
        raise RuntimeError("bug in the middle of an update")

    with pytest.raises(RuntimeError):
        dataset.update_items(broken)
    assert (tmp_path / "dataset.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    # The lock went with the failure: the next writer is not kept waiting.
    dataset.update_items(lambda items: [*items, DatasetItem("p1", "images/p1.png", "", 1, 8, 8, "")])
    assert [i.stem for i in dataset.items()] == ["p0", "p1"]


SPEC = IntentSpec.model_validate({"trigger_words": ["zxq"], "concepts": [
    {"name": "card", "granularity": "instance", "operation": "modify", "value": "red",
     "alternatives": ["red", "blue"]},
]})


@pytest.fixture()
def folder(tmp_path: Path) -> tuple[Path, Path]:
    """(pictures to import, a dataset folder holding the first of them)."""
    src = tmp_path / "pics"
    src.mkdir()
    for i, colour in enumerate(("red", "green", "yellow")):
        Image.new("RGB", (24, 16), colour).save(src / f"p{i}.png")
    first = tmp_path / "first"
    first.mkdir()
    Image.new("RGB", (24, 16), "red").save(first / "p0.png")
    root = tmp_path / "data"
    list(iter_import(first, root, make_thumbnails=False))
    return src, root


def test_a_caption_saved_in_the_app_while_an_import_runs_is_kept(folder: tuple[Path, Path]) -> None:
    src, root = folder
    events = iter_import(src, root, make_thumbnails=False)
    next(events)
    view = ProjectView(root)
    view.save_caption(next(i for i in view.items() if i.stem == "p0"), "a red card, edited")
    list(events)
    items = {i.stem: i for i in Dataset(root).items()}
    assert items["p0"].caption == "a red card, edited"
    assert {"p1", "p2"} <= set(items)  # and what the import added is there


def test_a_caption_saved_in_the_app_while_augmentation_runs_is_kept(folder: tuple[Path, Path]) -> None:
    src, root = folder
    list(iter_import(src, root, make_thumbnails=False))
    detect_concepts(root, SPEC, VisionBackends.load("whole-image", "box"))
    view = ProjectView(root)

    def edit_while_running(done: int, total: int, stem: str) -> None:
        if done == 1:
            view.save_caption(next(i for i in view.items(refresh=True) if i.stem == "p2"), "edited meanwhile")

    derived = augment(root, SPEC, progress=edit_while_running)
    items = {i.stem: i for i in Dataset(root).items()}
    assert items["p2"].caption == "edited meanwhile"
    assert derived and all(d.stem in items for d in derived)
    assert all((root / items[d.stem].path).is_file() for d in derived)


def test_a_decision_made_during_detection_wins_on_an_instance_the_run_finds_again(
    folder: tuple[Path, Path],
) -> None:
    src, root = folder
    list(iter_import(src, root, make_thumbnails=False))
    backends = VisionBackends.load("whole-image", "box")
    detect_concepts(root, SPEC, backends)
    events = iter_detect(root, SPEC, backends)
    next(events)  # p0 done; p1 and p2 still to come
    view = ProjectView(root)
    view.set_instance_accepted("p0", "card", 0, False)  # already passed by the run
    view.set_instance_accepted("p2", "card", 0, False)  # not reached yet: the run detects it again
    list(events)
    index = Dataset(root).masks_index()
    assert index["p0"]["card"]["instances"][0]["accepted"] is False
    assert index["p2"]["card"]["instances"][0]["accepted"] is False
    assert index["p1"]["card"]["instances"][0]["accepted"] is True  # untouched: what the run found
    # The mask file follows the decision the index keeps.
    mask = load_mask(Dataset(root), "p2", "card")
    assert mask is not None and not np.any(mask)
    assert json.loads((root / "masks.json").read_text())["version"] == 1
