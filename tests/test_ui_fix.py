"""Fix mode on the Generate screen: mark a box with the keys, queue the fix, compare before and after."""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path

import pytest
from PIL import Image
from test_ui import SIZE, app_for, make_project, switch_to, wait_for
from test_ui_generate import fresh_project

from tuitune.jobs.rundir import RunDir, RunState

pytestmark = pytest.mark.anyio

PROMPT = "an orange circle on a white background, with a watermark"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)  # queued, never started
    root = make_project(tmp_path / "proj")
    folder = root / "generations"
    Image.new("RGB", (64, 64), (240, 240, 240)).save(folder / "g2-base.png")
    record = {"id": "g2", "time": time.time(), "model": "toyworld", "lora": None, "images": {"base": "g2-base.png"},
              "params": {"prompt": PROMPT, "seed": 7, "steps": 12, "guidance": 4.0}}
    (folder / "g2.json").write_text(json.dumps(record), encoding="utf-8")
    return root


def finish_like_a_fix_job(run: RunDir) -> None:
    """What a finished fix run leaves (tuitune/fix/record.py): eval pictures with the mask, the report, the LoRA."""
    for side, shade in (("frozen", 90), ("tuned", 250)):
        (run.path / "eval" / side).mkdir(parents=True)
        Image.new("RGB", (64, 64), (shade, shade, shade)).save(run.path / "eval" / side / "000.png")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (40, 24, 64, 48))
    mask.save(run.path / "eval" / "frozen" / "000_mask.png")
    report = {"pictures": 1, "base": {"reward": -0.8, "defect_rate": 1.0}, "tuned": {"reward": -0.1, "defect_rate": 0.0},
              "reward_gain": 0.7, "drift_outside": 0.0123, "drift_inside": 0.2, "mask_share": 0.14}
    (run.path / "fix_report.json").write_text(json.dumps(report), encoding="utf-8")
    run.lora_path.write_bytes(b"lora")
    run.write_status(state=RunState.FINISHED, pid=None, step=100, total_steps=100)


async def test_mark_a_box_fix_it_and_compare_before_and_after(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        screen = app.screen
        await wait_for(pilot, lambda: screen.current_record() is not None and screen.current_record()["id"] == "g2")
        box = screen.query_one("#gen-fix-box")
        base = screen.query_one("#gen-base")
        await pilot.press("f")
        await wait_for(pilot, lambda: app.focused is box)
        assert box.label == "box 24,24 → 39,39 of 64×64"
        await pilot.press("right", "l", "down", "shift+right", "plus", "l", "k")
        # l at the right edge stays; k moves it back up
        await wait_for(pilot, lambda: box.label == "box 40,24 → 63,47 of 64×64" and box.label in base.caption)
        assert box.label in str(box.render())
        assert base.shown_image.getpixel((50, 30)) != (240, 240, 240)  # the box is drawn on the picture
        assert base.shown_image.getpixel((10, 10)) == (240, 240, 240)
        await pilot.press("enter")
        runs = project / "runs"
        await wait_for(pilot, lambda: any(n.message.startswith("Fixing as fix-") for n in app._notifications))
        (folder,) = [p for p in runs.iterdir() if p.name.startswith("fix-")]
        table = tomllib.loads((folder / "run.toml").read_text(encoding="utf-8"))["fix"]
        assert table["mask"] == "box:40,24,64,48"
        assert (table["prompts"], table["seeds"], table["eval_seeds"]) == ([PROMPT], [7], [7])
        assert not box.display and app.focused is screen.query_one("#gen-history")

        await pilot.press("c")  # not finished yet: it says so
        await wait_for(pilot, lambda: any("before and after appear once it finishes" in n.message
                                          for n in app._notifications))
        run = RunDir(folder)
        finish_like_a_fix_job(run)
        await pilot.press("c")
        lora = screen.query_one("#gen-lora-image")
        await wait_for(pilot, lambda: lora.path == folder / "eval" / "tuned" / "000.png" and not lora.pending)
        await wait_for(pilot, lambda: not base.pending)
        assert base.path == folder / "eval" / "frozen" / "000.png"
        assert lora.caption == "after · drift outside 0.012"
        assert base.shown_image.getpixel((50, 30)) != (90, 90, 90)  # the region outlined on the before picture
        info = str(screen.query_one("#gen-fix-info").render())
        assert f"{run.name}: drift outside the region 0.012" in info and "defects 100% → 0%" in info
        await pilot.press("c")  # back to the generation itself
        await wait_for(pilot, lambda: base.path == project / "generations" / "g2-base.png")
        assert not screen.query_one("#gen-fix-info").display

        await switch_to(pilot, "4", "train")
        await switch_to(pilot, "5", "generate")  # the fix's LoRA is offered for generating
        await wait_for(pilot, lambda: any(path == str(run.lora_path) for _, path in screen._choices))


def test_the_app_queues_the_same_fix_table_as_tuitune_fix_with_the_same_options(project: Path, tmp_path) -> None:
    """The screen's request for the generation above and `tuitune fix` with its options write one [fix] table."""
    from tuitune.cli import main
    from tuitune.fix.box import Box
    from tuitune.fix.request import FixRequest, submit

    app_run = submit(project / "runs", FixRequest(prompts=[PROMPT], seeds=[7], eval_seeds=[7],
                                                  mask=Box(40, 24, 64, 48).spec, model="toyworld", resolution=64,
                                                  sampler_steps=12, guidance=4.0))
    assert main(["fix", PROMPT, "--seed", "7", "--eval-seed", "7", "--mask", "box:40,24,64,48", "--model", "toyworld",
                 "--resolution", "64", "--sampler-steps", "12", "--guidance", "4", "--runs", str(tmp_path / "cli"),
                 "--name", "cli", "--detach"]) == 0
    ours = tomllib.loads(app_run.run_toml.read_text(encoding="utf-8"))["fix"]
    theirs = tomllib.loads((tmp_path / "cli" / "cli" / "run.toml").read_text(encoding="utf-8"))["fix"]
    assert ours == theirs


async def test_the_screen_builds_the_request_the_cli_twin_would(project: Path) -> None:
    """The request Fix mode queues for a generation: its prompt, seed, steps and guidance and the project's model."""
    from tuitune.fix.box import Box
    from tuitune.fix.request import FixRequest

    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        screen = app.screen
        await wait_for(pilot, lambda: screen.current_record() is not None)
        screen.fix.record = screen.current_record()
        request = screen.fix.request(Box(40, 24, 64, 48), 64)
    assert request == FixRequest(prompts=[PROMPT], seeds=[7], eval_seeds=[7], mask="box:40,24,64,48",
                                 model="toyworld", resolution=64, sampler_steps=12, guidance=4.0)


async def test_fix_mode_without_a_generation_and_compare_without_a_fix_say_what_to_do(tmp_path: Path,
                                                                                       monkeypatch) -> None:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    project = fresh_project(tmp_path / "proj")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        await pilot.press("f")
        await wait_for(pilot, lambda: any(n.message.startswith("Pick a generation in History first")
                                          for n in app._notifications))
        assert not app.screen.query_one("#gen-fix-box").display
    project = make_project(tmp_path / "other")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        screen = app.screen
        await wait_for(pilot, lambda: screen.current_record() is not None)
        box, base = screen.query_one("#gen-fix-box"), screen.query_one("#gen-base")
        await pilot.press("f")
        await wait_for(pilot, lambda: app.focused is box and "box 12,12 → 19,19 of 32×32" in base.caption)
        await pilot.press("c")  # leaves Fix mode, then finds no fix to compare with
        await wait_for(pilot, lambda: any(n.message.startswith("No fix of this prompt yet; press f")
                                          for n in app._notifications))
        assert not box.display and app.focused is screen.query_one("#gen-history")
        await wait_for(pilot, lambda: not base.pending)
        assert "box" not in base.caption and base.shown_image.getpixel((15, 15)) == (20, 20, 20)


async def test_fix_mode_outlines_where_the_critic_finds_the_watermark_and_puts_the_box_around_it(project: Path) -> None:
    from tuitune.toyworld.world import Scene, ShapeSpec, render, watermark_box

    scene = Scene(objects=(ShapeSpec("circle", "orange", 26, 28, 12),), background=("white",), watermark=True)
    drawn = render(scene).image
    drawn.save(project / "generations" / "g2-base.png")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        screen = app.screen
        await wait_for(pilot, lambda: screen.current_record() is not None and screen.current_record()["id"] == "g2")
        box, base = screen.query_one("#gen-fix-box"), screen.query_one("#gen-base")
        await pilot.press("f")
        # The heatmap comes from a process of its own (torch is never imported by the app): seconds.
        await wait_for(pilot, lambda: "heatmap outlined" in base.caption, timeout=180)
        x0, y0, x1, y1 = watermark_box()
        assert box.box.x0 <= x0 and box.box.y0 <= y0 and box.box.x1 >= x1 and box.box.y1 >= y1
        assert box.label == "box 40,48 → 63,63 of 64×64"  # grid cells around the mark, not the whole picture
        said = [n.message for n in app._notifications if "marks" in n.message]
        assert said and "the box is around it" in said[-1]
        assert base.shown_image.getpixel((8, 8)) == drawn.getpixel((8, 8))  # outside the region and the box
        assert base.shown_image.getpixel((44, 52)) != drawn.getpixel((44, 52))  # inside: tinted
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(n.message.startswith("Fixing as fix-") for n in app._notifications))
        (folder,) = [p for p in (project / "runs").iterdir() if p.name.startswith("fix-")]
        assert tomllib.loads((folder / "run.toml").read_text(encoding="utf-8"))["fix"]["mask"] == "box:40,48,64,64"
    # Kept per generation: the next visit does not compute it again.
    assert json.loads((project / "cache" / "heat" / "g2" / "report.json").read_text())["box"] == [40, 48, 64, 64]
