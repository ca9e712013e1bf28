"""Paths and stems read from dataset.json, masks.json and tuitune.db never reach outside the project.

A crafted entry (``..``, an absolute path, a link leading out) put through export, review, detect and augment
stops the command with one sentence naming the file; the folder beside the project stays byte-identical and
no file appears outside the project.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.files import tree
from tuitune import cli
from tuitune.cli import UserError
from tuitune.project.project import Project

SPEC = {"trigger_words": ["zxq"], "concepts": [{"name": "card", "granularity": "instance", "operation": "keep"}]}




@pytest.fixture()
def proj(tmp_path: Path) -> Path:
    """``work/proj`` with two detected pictures, and ``work/sentinel`` beside it (a picture, notes, a subfolder)."""
    src = tmp_path / "pics"
    src.mkdir()
    for i, colour in enumerate(("red", "blue")):
        Image.new("RGB", (16, 12), colour).save(src / f"p{i}.png")
        (src / f"p{i}.txt").write_text(f"a {colour} card")
    root = tmp_path / "work" / "proj"
    Project.create(root).close()
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    assert cli.main(["dataset", "import", str(src), "--into", str(root)]) == 0
    assert cli.main(["dataset", "detect", "--into", str(root), "--spec", str(tmp_path / "spec.json"),
                     "--detector", "whole-image", "--segmenter", "box"]) == 0
    sentinel = tmp_path / "work" / "sentinel"
    (sentinel / "sub").mkdir(parents=True)
    Image.new("RGB", (16, 12), "green").save(sentinel / "secret.png")
    Image.new("L", (16, 12), 255).save(sentinel / "card.png")
    (sentinel / "notes.txt").write_text("keep me")
    (sentinel / "sub" / "deep.txt").write_text("and me")
    return root


def _edit_items(root: Path, change: Callable[[list[dict]], None]) -> None:
    path = root / "dataset.json"
    raw = json.loads(path.read_text())
    change(raw["items"])
    path.write_text(json.dumps(raw))


def _edit_masks(root: Path, change: Callable[[dict], None]) -> None:
    path = root / "masks.json"
    raw = json.loads(path.read_text())
    change(raw["masks"])
    path.write_text(json.dumps(raw))


def _set(stem: str, key: str, value: object) -> Callable[[list[dict]], None]:
    def change(items: list[dict]) -> None:
        next(i for i in items if i["stem"] == stem)[key] = value
    return change


def _link_picture(root: Path) -> Callable[[list[dict]], None]:
    (root / "images" / "link.png").symlink_to(root.parent / "sentinel" / "secret.png")
    return _set("p0", "path", "images/link.png")


def _derived(**fields: object) -> Callable[[list[dict]], None]:
    def change(items: list[dict]) -> None:
        base = next(i for i in items if i["stem"] == "p0")
        items.append({**base, "stem": "p0__keep-card-0", "path": "derived/p0__keep-card-0.png",
                      "derived_from": "p0", **fields})
    return change


# (name, how dataset.json is crafted); the sentinel is work/sentinel, the project work/proj.
ITEMS = {
    "dotdot path": lambda root: _set("p0", "path", "../sentinel/secret.png"),
    "absolute path": lambda root: _set("p0", "path", str(root.parent / "sentinel" / "secret.png")),
    "linked path": _link_picture,
    "dotdot stem": lambda root: _set("p0", "stem", "../../sentinel/PWNED"),
}


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command: exit 2 and one sentence, which it returns."""
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tuitune: ") and lines[0].endswith("."), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("craft", [*ITEMS, "repeats"])
def test_export_of_a_crafted_dataset_json_reads_and_writes_nothing_outside(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], craft: str
) -> None:
    change = _set("p0", "repeats", "../work/sentinel/R") if craft == "repeats" else ITEMS[craft](proj)
    _edit_items(proj, change)
    before = tree(tmp_path, skip=proj)
    line = _run(["dataset", "export", str(tmp_path / "out"), "--into", str(proj)], capsys)
    assert "dataset.json" in line
    assert tree(tmp_path, skip=proj) == before  # no export, nothing written or read into one


def test_export_refuses_a_mask_folder_linked_outside(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (proj / "masks" / "p0" / "card.png").unlink()
    (proj / "masks" / "p0").rmdir()
    (proj / "masks" / "p0").symlink_to(proj.parent / "sentinel")
    before = tree(tmp_path, skip=proj)
    line = _run(["dataset", "export", str(tmp_path / "out"), "--into", str(proj)], capsys)
    assert "masks/p0/card.png" in line and "link" in line
    assert tree(tmp_path, skip=proj) == before


@pytest.mark.parametrize("craft", list(ITEMS))
def test_detect_on_a_crafted_dataset_json_reads_and_writes_nothing_outside(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], craft: str
) -> None:
    _edit_items(proj, ITEMS[craft](proj))
    before = tree(tmp_path, skip=proj)
    line = _run(["dataset", "detect", "--into", str(proj), "--spec", str(tmp_path / "spec.json"),
                 "--detector", "whole-image", "--segmenter", "box"], capsys)
    assert "dataset.json" in line
    assert tree(tmp_path, skip=proj) == before


@pytest.mark.parametrize("craft", [*ITEMS, "derived dotdot path", "derived absolute path", "derived dotdot stem"])
def test_augment_on_a_crafted_dataset_json_removes_and_writes_nothing_outside(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], craft: str
) -> None:
    sentinel = proj.parent / "sentinel"
    change = {
        # Augmenting again removes the earlier derived items: these name files outside as theirs.
        "derived dotdot path": lambda: _derived(path="../sentinel/notes.txt"),
        "derived absolute path": lambda: _derived(path=str(sentinel / "sub" / "deep.txt")),
        "derived dotdot stem": lambda: _derived(stem="../../sentinel"),
    }.get(craft, lambda: ITEMS[craft](proj))()
    _edit_items(proj, change)
    items_before = (proj / "dataset.json").read_text()
    before = tree(tmp_path, skip=proj)
    line = _run(["dataset", "augment", "--into", str(proj), "--spec", str(tmp_path / "spec.json")], capsys)
    assert "dataset.json" in line
    assert tree(tmp_path, skip=proj) == before
    assert (proj / "dataset.json").read_text() == items_before  # stopped before changing anything


MASKS = {
    # masks.json's stem names the folder review writes the mask into.
    "dotdot stem": ("../../sentinel/X", lambda masks: masks.__setitem__("../../sentinel/X", masks["p0"])),
    "dotdot instance mask": ("p0", lambda masks: masks["p0"]["card"]["instances"][0].__setitem__(
        "mask", "../sentinel/card.png")),
    "absolute instance mask": ("p0", lambda masks: None),  # filled in below: needs the project's folder
}


@pytest.mark.parametrize("craft", list(MASKS))
def test_review_of_a_crafted_masks_json_reads_and_writes_nothing_outside(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], craft: str
) -> None:
    stem, change = MASKS[craft]
    if craft == "absolute instance mask":
        def change(masks: dict) -> None:
            masks["p0"]["card"]["instances"][0]["mask"] = str(proj.parent / "sentinel" / "card.png")
    _edit_masks(proj, change)
    masks_before = (proj / "masks.json").read_text()
    before = tree(tmp_path, skip=proj)
    line = _run(["dataset", "review", stem, "card", "0", "accept", "--into", str(proj)], capsys)
    assert "masks.json" in line
    assert tree(tmp_path, skip=proj) == before
    assert (proj / "masks.json").read_text() == masks_before


def test_review_refuses_a_mask_folder_linked_outside(
    proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (proj / "masks" / "p0" / "card.png").unlink()
    (proj / "masks" / "p0").rmdir()
    (proj / "masks" / "p0").symlink_to(proj.parent / "sentinel" / "sub")
    before = tree(tmp_path, skip=proj)
    line = _run(["dataset", "review", "p0", "card", "0", "reject", "--into", str(proj)], capsys)
    assert "masks/p0/card.png" in line and "link" in line
    assert tree(tmp_path, skip=proj) == before


def _plain_project(tmp_path: Path) -> Path:
    """A project whose pictures were put in images/ by hand (no dataset.json), as a train run copies them."""
    root = tmp_path / "work" / "plain"
    Project.create(root).close()
    (root / "images").mkdir(exist_ok=True)
    Image.new("RGB", (16, 12), "red").save(root / "images" / "a.png")
    (root / "images" / "a.txt").write_text("a red card")
    sentinel = tmp_path / "work" / "sentinel"
    sentinel.mkdir(parents=True)
    (sentinel / "notes.txt").write_text("keep me")
    (sentinel / "notes.png").write_text("keep me too")
    Image.new("RGB", (16, 12), "green").save(sentinel / "secret.png")
    return root


@pytest.mark.parametrize("craft", ["dotdot db row", "linked picture"])
def test_a_train_runs_data_copy_follows_no_db_row_or_link_outside(tmp_path: Path, craft: str) -> None:
    from tuitune.train.project_run import prepare_data

    root = _plain_project(tmp_path)
    sentinel = root.parent / "sentinel"
    with Project.open(root) as project:
        if craft == "dotdot db row":
            # From runs/r1/.data.partial, four steps up is work/: the row names work/sentinel/notes.png.
            project.db.upsert_item("images/../../../../sentinel/notes.png", enabled=False)
        else:
            (root / "images" / "b.png").symlink_to(sentinel / "secret.png")
    run = root / "runs" / "r1"
    run.mkdir(parents=True)
    before = tree(tmp_path, skip=root)
    with pytest.raises(UserError) as caught:
        prepare_data(run, {"project": "../..", "masks": "../../masks"})
    assert ("tuitune.db" if craft == "dotdot db row" else "images/b.png") in str(caught.value)
    assert not (run / "data").exists()
    assert tree(tmp_path, skip=root) == before
