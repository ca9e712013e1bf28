"""Opening the shipped sample: a populated copy in the user's folder, the committed template left untouched, and
a project's train run that trains on the dataset (augmented items, optimised captions) exported into the run."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from tuitune.cli import main
from tuitune.cli.sample import make_sample, template_dir
from tuitune.project.project import Project

TEMPLATE = Path(__file__).parents[1] / "sample_projects" / "toyworld-watermark"


def _tracked_changes(folder: Path) -> str:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", str(folder)],
                         capture_output=True, text=True, cwd=folder, check=False)
    return out.stdout


def test_opening_the_committed_sample_makes_a_populated_copy(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    before = _tracked_changes(TEMPLATE)
    mine = tmp_path / "mine"
    # Without a terminal (pytest captures the output) the copy is made, then one sentence says the app needs one.
    assert main(["open", str(TEMPLATE), "--copy-to", str(mine)]) == 2
    err = capsys.readouterr().err
    assert f"sample project in {mine}" in err and "needs a terminal" in err and "Traceback" not in err
    assert main(["info", str(mine)]) == 0
    out = capsys.readouterr()
    assert "32 images" in out.out and "spec version 1" in out.out
    with Project.open(mine, readonly=True) as project:
        assert project.settings.base_model == "toyworld"
        assert project.settings.vision.detector == "analytic" and project.settings.training.resolution == 64
        assert len(project.db.items()) == 32
        spec = project.db.latest_spec().spec
    operations = {c["name"]: c["operation"] for c in spec["concepts"]}
    assert spec["trigger_words"] == ["zxq"] and operations["watermark"] == "delete"
    # The copy's form defaults keep the sample's hyperparameters but use the project's own masks and spec loss.
    train = tomllib.loads((mine / "train.toml").read_text(encoding="utf-8"))
    assert train["model"]["base"] == "toyworld" and train["train"]["steps"] == 200
    assert "masks" not in train["data"] and "concepts" not in train.get("loss", {})
    # Nothing was written into the checkout.
    assert not (TEMPLATE / "project.toml").exists() and _tracked_changes(TEMPLATE) == before

    # Opening the sample again reopens the same copy with what the user did in it.
    assert main(["open", str(TEMPLATE), "--copy-to", str(mine)]) == 2
    assert f"Opening your copy of the toyworld-watermark sample in {mine}" in capsys.readouterr().err


def test_open_mistakes_get_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["open", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "tuitune new" in err and "Traceback" not in err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["open", str(TEMPLATE), "--copy-to", str(tmp_path / "busy")]) == 2
    assert "pass --copy-to with a new folder" in capsys.readouterr().err
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_a_sample_name_as_a_new_folder_is_made_in_place(tmp_path: Path) -> None:
    with make_sample(tmp_path / "toyworld-watermark") as project:
        assert project.root == (tmp_path / "toyworld-watermark").resolve()
        assert len(project.db.items()) == 32 and project.db.latest_spec() is not None


def test_project_train_run_trains_on_the_augmented_dataset(tmp_path: Path) -> None:
    from tuitune.data.augment import AugmentSettings, augment
    from tuitune.data.concepts import VisionBackends, detect_concepts
    from tuitune.intent.project_link import load_spec
    from tuitune.jobs.queue import create_run
    from tuitune.train.project_run import base_config, job_config, prepare_data

    assert template_dir("toyworld-watermark") is not None
    root = tmp_path / "proj"
    with make_sample(root, "toyworld-watermark") as project:
        spec = load_spec(project)
    detect_concepts(root, spec, VisionBackends.load("analytic", "analytic"))
    derived = augment(root, spec, AugmentSettings(seed=0, keep_crops=0, modify_variations=1))
    assert derived

    config, warning = base_config(root)
    assert warning is None
    tables = job_config(root, config, spec, spec_version=spec.version)
    assert tables["data"]["folder"] == "data" and tables["train"]["cache_dir"] == "../../cache"
    watermark = tables["loss"]["concepts"]["watermark"]
    assert watermark["weight"] == 0.0 and watermark["preserve"] == 1.0 and watermark["mask"] == "watermark"
    run = create_run(root / "runs", "train", tables)
    prepare_data(run.path, tables["dataset"])

    pictures = sorted((run.path / "data").glob("*/*.png"))
    assert len(pictures) == 32 + len(derived)
    assert any("__modify-colour" in p.stem for p in pictures)
    captions = [p.with_suffix(".txt").read_text() for p in pictures]
    assert all(c.startswith("zxq") and "watermark" not in c for c in captions)
    # Masks travel with every picture, derived ones included.
    masks = run.path / "data" / "masks"
    # (an inpainted copy has no watermark, so no watermark mask)
    assert all((masks / p.stem / "watermark.png").is_file() is ("__delete-" not in p.stem)
               for p in pictures if p.stem.startswith("zxq_00"))
    mask = Image.open(masks / "zxq_00" / "watermark.png")
    assert mask.size == (64, 64)
    # A resume reuses the exported data rather than taking in later dataset edits.
    assert "reused" in prepare_data(run.path, tables["dataset"])
