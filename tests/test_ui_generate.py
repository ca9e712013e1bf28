"""Generate screen before any LoRA exists: the base image alone, and a LoRA side that says how to get one."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, switch_to, wait_for

pytestmark = pytest.mark.anyio



def fresh_project(root: Path) -> Path:
    """The Pilot test project as a new user has it: a spec and pictures, but no runs and no generations."""
    make_project(root)
    shutil.rmtree(root / "runs")
    shutil.rmtree(root / "generations")
    return root


def lora_side(screen) -> str:
    return screen.query_one("#gen-lora-image").message or ""


async def test_first_generation_without_a_lora_submits_a_base_only_job(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)
    project = fresh_project(tmp_path / "proj")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        screen = app.screen
        assert "No LoRA yet" in lora_side(screen) and "Train screen (4" in lora_side(screen)
        await pilot.press("ctrl+g")  # the prompt starts as the trigger word
        await wait_for(pilot, lambda: (project / "runs").is_dir() and any((project / "runs").iterdir()))
        await wait_for(pilot, lambda: any("base image appears" in n.message for n in app._notifications))
    (run,) = list((project / "runs").iterdir())
    request = tomllib.loads((run / "run.toml").read_text(encoding="utf-8"))["generate"]
    assert "lora" not in request and request["prompts"] == ["zxq"]


async def test_a_lora_appearing_later_is_picked_and_base_only_stays_a_choice(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)
    project = fresh_project(tmp_path / "proj")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        screen = app.screen
        select = screen.query_one("#gen-lora")
        assert select.is_blank()
        from tuitune.jobs.rundir import RunDir

        run = RunDir(project / "runs" / "train-new").create()
        run.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
        run.checkpoint_dir(10).mkdir(parents=True)
        (run.checkpoint_dir(10) / "COMPLETE").write_text("")
        await switch_to(pilot, "4", "train")
        await switch_to(pilot, "5", "generate")  # coming back to the screen looks for new LoRAs
        await wait_for(pilot, lambda: not select.is_blank())
        assert "train-new" in str(select.value)
        assert "No LoRA yet" not in lora_side(screen)
        select.clear()  # the user picks "base only" on purpose; a new checkpoint must not undo that
        run.checkpoint_dir(20).mkdir(parents=True)
        (run.checkpoint_dir(20) / "COMPLETE").write_text("")
        await switch_to(pilot, "4", "train")
        await switch_to(pilot, "5", "generate")
        await wait_for(pilot, lambda: len(screen._choices) == 2)
        assert select.is_blank()


@pytest.mark.slow
async def test_base_only_generation_runs_on_the_toyworld_model_and_is_shown(tmp_path: Path, monkeypatch) -> None:
    """The real job on the shipped toyworld model: the base picture appears, the LoRA side explains."""
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project = fresh_project(tmp_path / "proj")
    (project / "project.toml").write_text('name = "proj"\nbase_model = "toyworld"\n', encoding="utf-8")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#gen-steps").value = "2"
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: screen.current_record() is not None, timeout=600)
        record = screen.current_record()
        base = screen.query_one("#gen-base")
        await wait_for(pilot, lambda: not base.pending)
        assert set(record["images"]) == {"base"} and base.error is None
        assert base.path == project / "generations" / record["images"]["base"]
        assert "No LoRA yet" in lora_side(screen)
