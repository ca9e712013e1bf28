"""Generate screen on the path: a new pair shows at once, the LoRA picker follows the newest run's recommended
checkpoint, ctrl+h and esc leave the prompt for History, and records name the run that drew them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image
from test_ui import SIZE, app_for, make_project, press_to_focus, switch_to, wait_for
from test_ui_eval import append, eval_row

from tuitune.jobs.rundir import RunDir, RunState

pytestmark = pytest.mark.anyio

GOOD = {"keep fidelity": 0.81, "modify flexibility": None, "delete absence": 0.9, "drift outside focus": 0.1,
        "drift on neutral prompts": 0.2}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)  # queued, never started
    return make_project(tmp_path / "proj")


def training_run(root: Path, name: str, created: float, steps: tuple[int, ...], final: bool = False) -> RunDir:
    run = RunDir(root / "runs" / name).create()
    run.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
    run.write_status(state=RunState.FINISHED if final else RunState.STOPPED, kind="train", step=steps[-1],
                     total_steps=steps[-1], created=created)
    for step in steps:
        run.checkpoint_dir(step).mkdir(parents=True)
        (run.checkpoint_dir(step) / "COMPLETE").write_text("")
    if final:
        run.lora_path.write_bytes(b"lora")
    return run


def write_generation(root: Path, gen_id: str, lora: str) -> None:
    """What a generate job leaves: two PNGs and their record."""
    folder = root / "generations"
    for role, shade in (("base", 60), ("lora", 200)):
        Image.new("RGB", (32, 32), (shade, shade, shade)).save(folder / f"{gen_id}-{role}.png")
    record = {"id": gen_id, "time": time.time(), "params": {"prompt": "zxq", "seed": 0}, "model": "toy",
              "lora": lora, "images": {"base": f"{gen_id}-base.png", "lora": f"{gen_id}-lora.png"}}
    (folder / f"{gen_id}.json").write_text(json.dumps(record), encoding="utf-8")


async def test_a_second_generation_shows_its_pair_at_once(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        screen = app.screen
        base = screen.query_one("#gen-base")
        await wait_for(pilot, lambda: base.path is not None and base.path.name == "g1-base.png")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: (project / "runs").is_dir() and len(list((project / "runs").iterdir())) == 3)
        write_generation(project, "g2", "train-a")  # the job finished
        await wait_for(pilot, lambda: base.path is not None and base.path.name == "g2-base.png")
        assert screen.query_one("#gen-lora-image").path.name == "g2-lora.png"


async def test_lora_picker_defaults_to_the_newest_runs_recommended_checkpoint(project: Path) -> None:
    older = training_run(project, "train-c", 3.0, (10, 20, 30), final=True)
    append(older.path, eval_row("step_20", 20, {**GOOD, "intent score": 0.9}),
           eval_row("step_30", 30, {**GOOD, "intent score": 0.5}))
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        select = app.screen.query_one("#gen-lora")
        await wait_for(pilot, lambda: not select.is_blank())
        assert select.value == str(older.checkpoint_dir(20))  # ★, not its final LoRA nor an older run's
        assert any(label == "★ train-c step 20" for label, _ in app.screen._choices)
        # A newer run saves a checkpoint: the picker follows it (the user has not picked one).
        newer = training_run(project, "train-d", time.time(), (5,))
        await switch_to(pilot, "4", "train")
        await switch_to(pilot, "5", "generate")
        await wait_for(pilot, lambda: select.value == str(newer.checkpoint_dir(5)))
        # One the user picks stays picked when the runs change again.
        select.value = str(older.lora_path)
        newer.checkpoint_dir(10).mkdir(parents=True)
        (newer.checkpoint_dir(10) / "COMPLETE").write_text("")
        await switch_to(pilot, "4", "train")
        await switch_to(pilot, "5", "generate")
        await wait_for(pilot, lambda: any("step 10" in label for label, _ in app.screen._choices))
        assert select.value == str(older.lora_path)


async def test_ctrl_h_and_esc_leave_the_prompt_for_history(project: Path) -> None:
    from textual import events

    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        screen = app.screen
        prompt = screen.query_one("#gen-prompt")
        await press_to_focus(pilot, "ctrl+e", focused="gen-prompt")
        prompt.value = "zxq ring"
        prompt.cursor_position = len(prompt.value)
        # tmux and most terminals send ctrl+h as the ^H byte, which Textual reads as a backspace.
        app.post_message(events.Key("backspace", "\x08"))
        await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "gen-history")
        assert prompt.value == "zxq ring"  # nothing deleted
        await press_to_focus(pilot, "ctrl+e", focused="gen-prompt")
        await press_to_focus(pilot, "escape", focused="gen-history")
        await press_to_focus(pilot, "ctrl+e", focused="gen-prompt")
        prompt.cursor_position = len(prompt.value)  # focusing selected the whole prompt
        app.post_message(events.Key("backspace", "\x7f"))  # the Backspace key still deletes
        await wait_for(pilot, lambda: prompt.value == "zxq rin")


async def test_an_evaluation_finishing_while_generate_is_shown_brings_its_star_without_a_revisit(
        project: Path) -> None:
    run = training_run(project, "train-c", 3.0, (10, 20), final=True)
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        select = app.screen.query_one("#gen-lora")
        await wait_for(pilot, lambda: not select.is_blank())
        assert select.value == str(run.lora_path)  # no evaluation yet: the run's final LoRA
        await pilot.pause(2.5)  # a poll that finds nothing new in the runs changes nothing
        append(run.path, eval_row("step_10", 10, {**GOOD, "intent score": 0.9}),
               eval_row("step_20", 20, {**GOOD, "intent score": 0.5}))  # the evaluation job writes its rows
        await wait_for(pilot, lambda: select.value == str(run.checkpoint_dir(10)), timeout=15)
        assert app.current_mode == "generate"
        assert any(label == "★ train-c step 10" for label, _ in app.screen._choices)
