"""The app and its CLI twin queue the same job for the same project: detect, train and generate run.toml equal.

Each test presses the screen's key, reads the run.toml it queued, removes that run, runs the CLI command the
screen's help names and compares the two files table by table (only the run's own name and folder differ).
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, wait_for

from tuitune.cli import main

pytestmark = pytest.mark.anyio

OLD_RUNS = {"train-a", "train-b"}  # make_project's finished and crashed runs
SETTINGS = '''name = "proj"
base_model = "models/base"
model_kind = "sd1"

[training]
rank = 4
steps = 30

[vision]
similarity_threshold = 0.55
min_score = 0.1
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    # Runs are created and queued as they would be, but no worker process starts.
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)
    monkeypatch.setattr("tuitune.jobs.queue.launch", lambda run, **kw: 0)
    root = make_project(tmp_path / "proj")
    (root / "project.toml").write_text(SETTINGS, encoding="utf-8")
    (root / "models" / "base").mkdir(parents=True)  # a base model inside the project: a path, not a hub id
    return root


def new_runs(project: Path) -> list[Path]:
    return [f for f in sorted((project / "runs").iterdir()) if f.name not in OLD_RUNS and (f / "run.toml").is_file()]


def take_run(project: Path) -> dict:
    """The one run.toml queued since the last call, without the run's own name and folder; the run is removed."""
    [run] = new_runs(project)
    tables = tomllib.loads((run / "run.toml").read_text(encoding="utf-8"))
    shutil.rmtree(run)
    for key in ("name", "run_dir"):
        tables["job"].pop(key)
    return tables


async def test_detection_from_concepts_equals_dataset_detect_detach(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: new_runs(project))
    from_app = take_run(project)
    assert main(["dataset", "detect", "--into", str(project), "--detach"]) == 0
    from_cli = take_run(project)
    assert from_app == from_cli
    detect = from_app["detect"]
    # project.toml's [vision] settings, frozen into the run; the latest spec version; no GPU for these backends.
    assert (detect["threshold"], detect["min_score"], detect["spec_version"]) == (0.55, 0.1, 2)
    assert (detect["detector"], detect["segmenter"]) == ("analytic", "analytic")
    assert detect["project"] == str(project.resolve())
    assert from_app["job"] == {"kind": "detect", "gpu": False}


async def test_a_train_run_from_the_train_screen_equals_tuitune_train_project(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("s")
        await wait_for(pilot, lambda: new_runs(project))
    from_app = take_run(project)
    assert main(["train", str(project), "--detach"]) == 0
    from_cli = take_run(project)
    assert from_app == from_cli
    # project.toml's training defaults; paths into the project relative to the run folder; the latest spec's loss.
    assert (from_app["lora"]["rank"], from_app["train"]["steps"]) == (4, 30)
    assert from_app["model"]["base"] == "../../models/base" and from_app["model"]["kind"] == "sd1"
    assert from_app["train"]["cache_dir"] == "../../cache"
    assert from_app["dataset"]["project"] == "../.." and from_app["dataset"]["spec_version"] == 2
    assert from_app["loss"]["concepts"]["watermark"]["weight"] == 0.0
    assert from_app["job"] == {"kind": "train", "gpu": True}


async def test_a_generation_from_the_generate_screen_equals_tuitune_generate_project(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#gen-prompt").value = "zxq on a beach"
        screen.query_one("#gen-seed").value = "42"
        lora = screen.query_one("#gen-lora").value
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: new_runs(project))
    assert isinstance(lora, str)  # the screen offers train-a's LoRA and picks it
    from_app = take_run(project)
    assert main(["generate", "zxq on a beach", "--project", str(project), "--seed", "42", "--lora", lora,
                 "--detach"]) == 0
    from_cli = take_run(project)
    assert from_app == from_cli
    generate = from_app["generate"]
    # The project's base model and kind; every path into the project relative to the run folder, as train's.
    assert (generate["model"], generate["kind"]) == ("../../models/base", "sd1")
    assert generate["output"] == "../../generations"
    assert generate["lora"].startswith("../../runs/train-a/")
    assert (generate["prompts"], generate["seeds"]) == (["zxq on a beach"], [42])
    assert from_app["job"] == {"kind": "generate", "gpu": True}


async def test_a_broken_train_toml_stops_both_instead_of_training_on_defaults(project: Path, capsys) -> None:
    (project / "train.toml").write_text("[train\nsteps = 5\n", encoding="utf-8")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("s")
        await wait_for(pilot, lambda: any("train.toml could not be read" in n.message and "fix it" in n.message
                                          for n in app._notifications))
    assert not new_runs(project)
    assert main(["train", str(project), "--detach"]) == 2
    assert "train.toml could not be read" in capsys.readouterr().err and not new_runs(project)


def test_generate_says_which_options_go_with_a_project(project: Path, capsys) -> None:
    assert main(["generate", "zxq", "--detach", "--model", "toyworld"]) == 2
    assert "--detach queues a job in a project" in capsys.readouterr().err
    assert main(["generate", "zxq", "--project", str(project), "--out", "elsewhere"]) == 2
    assert "leave --out out" in capsys.readouterr().err
    assert main(["generate", "zxq"]) == 2
    assert "--model is required without --project" in capsys.readouterr().err
    assert not new_runs(project)


async def test_an_evaluation_from_the_train_screen_equals_tuitune_eval_detach(project: Path) -> None:
    with (project / "project.toml").open("a", encoding="utf-8") as settings:
        settings.write('detector = "toyworld"\nembedder = "toyworld"\n')  # under [vision]
    from tuitune.project.project import Project

    with Project.open(project) as handle:  # the Train screen opens on train-a (finished, checkpoint at 40)
        handle.db.ui_set("app", {"screen": "intent", "selection": {"train": {"run": "train-a"}}})
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: screen.summary is not None and screen.summary.name == "train-a")
        await pilot.press("e")
        await wait_for(pilot, lambda: new_runs(project))
    from_app = take_run(project)
    assert main(["eval", str(project / "runs" / "train-a"), "--detach"]) == 0
    from_cli = take_run(project)
    assert from_app == from_cli
    assert from_app["evaluate"] == {"run": str((project / "runs" / "train-a").resolve()), "detector": "toyworld",
                                    "segmenter": "analytic", "embedder": "toyworld"}
    assert from_app["job"] == {"kind": "evaluate", "gpu": True}
