"""Training data exported for a project run leaves out disabled and held-out items (and what was made from them)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tuitune.cli import UserError
from tuitune.cli.sample import make_sample
from tuitune.data.dataset import Dataset
from tuitune.jobs.queue import create_run
from tuitune.train.project_run import base_config, job_config, prepare_data


def _derive(root: Path, parent_stem: str) -> str:
    """Add one augmented item made from ``parent_stem``, as augmentation would."""
    dataset = Dataset(root)
    items = dataset.items()
    parent = next(i for i in items if i.stem == parent_stem)
    stem = f"{parent_stem}__modify-colour-0"
    dataset.derived_dir.mkdir(exist_ok=True)
    shutil.copy(dataset.image_path(parent), dataset.derived_dir / f"{stem}.png")
    items.append(replace(parent, stem=stem, path=f"derived/{stem}.png", derived_from=parent_stem))
    dataset.save_items(items)
    return stem


def test_disabled_and_held_out_items_are_not_trained_on(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    with make_sample(root, "toyworld-watermark") as project:
        project.db.upsert_item(root / "images" / "zxq_00.png", enabled=False)
        project.db.upsert_item(root / "images" / "zxq_01.png", split="heldout")
    derived_of_disabled = _derive(root, "zxq_00")
    derived_of_kept = _derive(root, "zxq_02")

    config, _ = base_config(root)
    tables = job_config(root, config)
    run = create_run(root / "runs", "train", tables)
    message = prepare_data(run.path, tables["dataset"])

    stems = {p.stem for p in (run.path / "data").glob("*/*.png") if p.parent.name != "masks"}
    assert "zxq_00" not in stems and "zxq_01" not in stems and derived_of_disabled not in stems
    assert {"zxq_02", "zxq_03", derived_of_kept} <= stems
    assert len(stems) == 32 - 2 + 1
    assert not list((run.path / "data").glob("*/zxq_00.txt"))
    assert "31 images" in message and "3 disabled or held-out items left out" in message
    assert not (run.path / ".data.export").exists()


def test_a_project_with_every_item_set_aside_says_so(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    with make_sample(root, "toyworld-watermark") as project:
        for item in project.db.items():
            project.db.upsert_item(item.path, enabled=False)
    config, _ = base_config(root)
    tables = job_config(root, config)
    run = create_run(root / "runs", "train", tables)
    with pytest.raises(UserError, match="disabled or held out"):
        prepare_data(run.path, tables["dataset"])
    assert not (run.path / "data").exists()


def test_caption_tag_dropout_field_blank_leaves_the_intent_default_and_a_value_wins(tmp_path: Path) -> None:
    from tuitune.train.project_run import INTENT_TAG_DROPOUT
    from tuitune.ui.train_settings import SETTINGS, form_overrides, form_values, run_config

    root = tmp_path / "proj"
    make_sample(root, "toyworld-watermark").close()  # its spec is the latest, which the run config reads
    config, _ = base_config(root)
    raw = form_values(config)
    field = next(s for s in SETTINGS if s.key == "caption_tag_dropout")
    assert raw[field] == ""  # shown blank ("auto"), not as TrainConfig's 0.0 that would switch the default off
    assert run_config(root, raw)["data"]["caption_tag_dropout"] == INTENT_TAG_DROPOUT
    assert run_config(root, {**raw, field: "0.25"})["data"]["caption_tag_dropout"] == 0.25
    assert form_overrides({field: ""}) == {"data": {"caption_tag_dropout": None}}  # removed from train.toml
    with pytest.raises(ValueError, match="caption tag drop"):
        run_config(root, {**raw, field: "lots"})
