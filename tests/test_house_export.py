"""The dataset export leaves out what the project set aside: disabled and held-out pictures, and their augmentations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from tuitune.cli import UserError
from tuitune.data.dataset import Dataset
from tuitune.data.export import export
from tuitune.data.importer import import_folder
from tuitune.project.project import Project


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    src = tmp_path / "pics"
    src.mkdir()
    for i, colour in enumerate(("red", "blue", "green", "white")):
        Image.new("RGB", (24, 16), colour).save(src / f"p{i}.png")
    root = tmp_path / "proj"
    Project.create(root).close()
    import_folder(src, root)
    dataset = Dataset(root)
    items = {item.stem: item for item in dataset.items()}
    # A picture augmented from p2, as the augmenter records it, and masks for p1 and p0.
    dataset.derived_dir.mkdir(exist_ok=True)
    Image.new("RGB", (24, 16), "green").save(dataset.derived_dir / "p2_crop0.png")
    derived = replace(items["p2"], stem="p2_crop0", path="derived/p2_crop0.png", derived_from="p2",
                      caption="a crop of p2")
    dataset.save_items([*items.values(), derived])
    for stem in ("p0", "p1"):
        mask = dataset.mask_path(stem, "card")
        mask.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (24, 16), 255).save(mask)
    return root


def _exported_stems(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*/*") if p.parent.name != "masks"}


def test_disabled_and_held_out_items_never_reach_the_exported_folder(project: Path, tmp_path: Path) -> None:
    with Project.open(project) as proj:
        proj.db.upsert_item(project / "images" / "p1.png", enabled=False)
        proj.db.upsert_item(project / "images" / "p2.png", split="test")
    out = tmp_path / "out"
    report = export(project, out)
    assert _exported_stems(out) == {"p0", "p3"}  # p2's augmentation went with it
    assert {p.name for p in (out / "masks").iterdir()} == {"p0"}
    assert report.images == 2 and report.left_out == 3


def test_the_filter_reads_the_project_while_the_app_holds_its_writer_lock(project: Path, tmp_path: Path) -> None:
    with Project.open(project) as proj:  # stays open, as the app does
        proj.db.upsert_item(project / "images" / "p3.png", enabled=False)
        report = export(project, tmp_path / "out")
    assert _exported_stems(tmp_path / "out") == {"p0", "p1", "p2", "p2_crop0"}
    assert report.left_out == 1


def test_a_project_with_everything_set_aside_says_so_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    with Project.open(project) as proj:
        for stem in ("p0", "p1", "p2", "p3"):
            proj.db.upsert_item(project / "images" / f"{stem}.png", enabled=False)
    with pytest.raises(UserError, match="disabled or held out"):
        export(project, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_plain_folder_without_a_project_exports_everything(project: Path, tmp_path: Path) -> None:
    (project / "tuitune.db").unlink()
    report = export(project, tmp_path / "out")
    assert _exported_stems(tmp_path / "out") == {"p0", "p1", "p2", "p2_crop0", "p3"} and report.left_out == 0


def test_the_export_command_says_how_many_items_it_left_out(project: Path, tmp_path: Path, capsys) -> None:
    from tuitune import cli

    with Project.open(project) as proj:
        proj.db.upsert_item(project / "images" / "p0.png", split="test")
    assert cli.main(["dataset", "export", "--into", str(project), str(tmp_path / "out")]) == 0
    assert "1 disabled or held-out items left out" in capsys.readouterr().out
    assert _exported_stems(tmp_path / "out") == {"p1", "p2", "p2_crop0", "p3"}


def test_a_project_run_trains_only_on_what_the_export_keeps(project: Path, tmp_path: Path) -> None:
    from tuitune.train.project_run import RUN_DATA, prepare_data

    with Project.open(project) as proj:
        proj.db.upsert_item(project / "images" / "p3.png", enabled=False)
    run = tmp_path / "runs" / "one"
    run.mkdir(parents=True)
    message = prepare_data(run, {"project": str(project), "include_derived": True})
    assert "1 disabled or held-out items left out" in message
    assert _exported_stems(run / RUN_DATA) == {"p0", "p1", "p2", "p2_crop0"}
