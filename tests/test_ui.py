"""The Textual app driven by Pilot: each screen's main actions, bad input, and no heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tuitune.intent.dialogue import Dialogue
from tuitune.intent.spec import Concept, Granularity, IntentSpec, Operation
from tuitune.jobs.rundir import RunDir, RunState

SIZE = (120, 36)
pytestmark = pytest.mark.anyio



def make_project(root: Path) -> Path:
    """A small project: 6 images (one unreadable), masks on two, a spec, a finished and a crashed run."""
    (root / "images").mkdir(parents=True)
    (root / "project.toml").write_text('name = "proj"\n', encoding="utf-8")
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200)]
    for n, colour in enumerate(colours):
        img = Image.new("RGB", (32, 32), colour)
        for x in range(8, 24):
            img.putpixel((x, 16), (255, 255, 255))
        img.save(root / "images" / f"item{n}.png")
        (root / "images" / f"item{n}.txt").write_text(f"zxq shape {n}", encoding="utf-8")
    (root / "images" / "broken.png").write_bytes(b"this is not a png")
    for stem in ("item0", "item1"):
        (root / "masks" / stem).mkdir(parents=True)
        mask = Image.new("L", (32, 32), 0)
        mask.paste(255, (0, 24, 32, 32))
        mask.save(root / "masks" / stem / "watermark.png")
    spec1 = IntentSpec(trigger_words=["zxq"], domain="object", concepts=[
        Concept(name="shape", granularity=Granularity.INSTANCE, operation=Operation.KEEP, references=[1]),
        Concept(name="watermark", granularity=Granularity.INSTANCE, operation=Operation.DELETE),
    ])
    spec2 = spec1.model_copy(update={"version": 2, "concepts": [
        *spec1.concepts,
        Concept(name="colour", granularity=Granularity.ATTRIBUTE, operation=Operation.MODIFY,
                alternatives=["blue", "green"]),
    ]})
    from tuitune.project.project import Project

    with Project.open(root) as handle:
        db = handle.db
        db.add_turn("user", "keep the shape [1], remove the watermark", None,
                    [{"number": 1, "image": str(root / "images" / "item0.png"), "box": [0, 0, 32, 32]}])
        db.save_spec(spec1.model_dump(mode="json", exclude={"version"}), "keep the shape [1], remove the watermark")
        db.add_turn("assistant", "added shape; added watermark", 1)
        db.add_turn("user", "the colour may change to blue or green", 1)
        db.save_spec(spec2.model_dump(mode="json", exclude={"version"}), "the colour may change to blue or green")
        db.add_turn("assistant", "added colour", 2)

    done = RunDir(root / "runs" / "train-a").create()
    done.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
    done.write_status(state=RunState.FINISHED, pid=None, step=40, total_steps=40, created=1.0)
    for step in range(1, 41):
        done.append_metric({"step": step, "loss": 1.0 / step, "lr": 1e-4, "time": 100.0 + step / 2})
    (done.checkpoint_dir(40)).mkdir(parents=True)
    (done.checkpoint_dir(40) / "COMPLETE").write_text("")
    sample_dir = done.sample_dir(40)
    sample_dir.mkdir(parents=True)
    Image.new("RGB", (32, 32), (90, 30, 160)).save(sample_dir / "0.png")

    dead = RunDir(root / "runs" / "train-b").create()
    dead.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
    # A pid that cannot exist: the worker is gone, so readers must see the run as crashed.
    dead.write_status(state=RunState.RUNNING, pid=2**22 + 12345, step=12, total_steps=100, created=2.0)
    for step in range(1, 13):
        dead.append_metric({"step": step, "loss": 0.5, "lr": 1e-4, "time": 200.0 + step})

    gens = root / "generations"
    gens.mkdir(exist_ok=True)
    Image.new("RGB", (32, 32), (20, 20, 20)).save(gens / "g1-base.png")
    Image.new("RGB", (32, 32), (220, 220, 220)).save(gens / "g1-lora.png")
    record = {"id": "g1", "time": 5.0, "params": {"prompt": "zxq on grass", "seed": 7}, "model": "toy",
              "lora": str(done.lora_path), "images": {"base": "g1-base.png", "lora": "g1-lora.png"}}
    (gens / "g1.json").write_text(json.dumps(record), encoding="utf-8")
    return root


def stored_history(root: Path) -> Dialogue:
    """The intent history as the project DB holds it (what `tuitune intent --project` reads too)."""
    from tuitune.project.project import Project
    from tuitune.ui.intent_history import load_history

    with Project.open(root, readonly=True) as handle:
        return load_history(handle)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    return make_project(tmp_path / "proj")


def app_for(path: Path):
    from tuitune.ui.app import TuituneApp

    return TuituneApp(path)


async def wait_for(pilot, condition, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds; generous, so a slow, loaded machine passes and only a hang fails."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def press_to_focus(pilot, *keys: str, focused: str) -> None:
    """Press ``keys``, then wait until the widget with id ``focused`` has the focus.

    Textual moves the focus after the key is handled; a key typed before that goes to the widget that had it.
    """
    await pilot.press(*keys)
    await wait_for(pilot, lambda: getattr(pilot.app.focused, "id", None) == focused)


async def switch_to(pilot, key: str, mode: str) -> None:
    """Press the screen key ``key`` and wait until ``mode`` is the screen shown."""
    await pilot.press(key)
    await wait_for(pilot, lambda: pilot.app.current_mode == mode)


async def test_every_screen_by_key_without_heavy_imports(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        modes = ["intent", "concepts", "dataset", "train", "generate"] * 2
        for key, mode in zip(("1", "2", "3", "4", "5", "f2", "f3", "f4", "f5", "f6"), modes, strict=True):
            await switch_to(pilot, key, mode)
        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "GenerateScreen")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press("escape")
    if os.environ.get("TUITUNE_FRESH_INTERPRETER") == "1":
        heavy = [m for m in ("torch", "diffusers", "transformers") if m in sys.modules]
        assert heavy == []


def test_ui_process_never_imports_heavy_libraries() -> None:
    """The same visit to every screen, in a fresh interpreter, so other tests' imports can't hide or fake it."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{__file__}::test_every_screen_by_key_without_heavy_imports"],
        env={**os.environ, "TUITUNE_FRESH_INTERPRETER": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


async def test_help_lists_the_screen_keys(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "4", "train")
        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        actions = [row[1] for row in app.screen.rows]
    assert {"Start", "Stop", "Resume", "Sample now", "Dataset", "Quit"} <= set(actions)
    # The screen's own keys come before the focused table's cursor keys.
    assert actions.index("Start") < actions.index("Cursor up")


async def test_palette_runs_a_screen_action(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        from textual.command import CommandList
        from textual.widgets import Input

        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        palette = app.screen
        await wait_for(pilot, lambda: isinstance(app.focused, Input) and app.focused.screen is palette)
        await pilot.press(*"Generate")
        # The palette searches in the background: Enter runs the highlighted hit once one is listed.
        hits = palette.query_one(CommandList)
        await wait_for(pilot, lambda: hits.highlighted is not None and "Generate" in str(
            hits.get_option_at_index(hits.highlighted).prompt))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "generate")


async def test_too_small_terminal_says_so_and_recovers(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=(40, 10)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TooSmallScreen")
        await pilot.resize_terminal(*SIZE)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "IntentScreen")


async def test_last_screen_and_selection_come_back(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "3", "dataset")
        await wait_for(pilot, lambda: app.screen.shown and getattr(app.focused, "id", None) == "dataset-grid")
        await pilot.press("right", "right")
        await wait_for(pilot, lambda: app.screen.current.stem == "item1")
        await pilot.press("ctrl+q")
    again = app_for(project)
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: type(again.screen).__name__ == "DatasetScreen")
        assert again.current_mode == "dataset"
        await wait_for(pilot, lambda: again.screen.shown)
        assert again.screen.current.stem == "item1"


async def test_concepts_edit_validates_and_versions(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "2", "concepts")
        screen = app.screen
        await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "concepts-table")
        await pilot.press("right", "right", "right", "right")  # past the found counts (not editable)
        await press_to_focus(pilot, "e", focused="concept-edit")  # the weight column of "shape"
        await pilot.press("ctrl+a", "backspace", *"heavy", "enter")
        message = screen.query_one("#concepts-message")
        await wait_for(pilot, lambda: "Weight must be a number" in str(message.render()))
        screen.query_one("#concept-edit").value = "0.5"
        await press_to_focus(pilot, "enter", focused="concepts-table")
        await pilot.press("o")  # shape: keep -> modify
        await wait_for(pilot, lambda: stored_history(project).current.version == 4)
    saved = stored_history(project)
    shape = saved.current.concept("shape")
    assert saved.current.version == 4
    assert shape.loss_weight == 0.5 and shape.operation is Operation.MODIFY
    assert saved.version(2).concept("shape").loss_weight is None


async def test_train_shows_progress_and_offers_resume_for_a_dead_worker(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "4", "train")
        screen = app.screen
        table = screen.query_one("#runs-table")
        await wait_for(pilot, lambda: table.row_count >= 2)
        names = [row.value for row in table.rows]
        assert set(names) == {"train-a", "train-b"}
        screen.selected = "train-b"
        screen.refresh_runs()
        alert = str(screen.query_one("#run-alert").render())
        assert "worker died" in alert and "r to resume" in alert
        assert "step 12/100" in str(screen.query_one("#run-line").render())
        assert "1.00 s/step" in str(screen.query_one("#run-line").render())
        screen.selected = "train-a"
        screen.refresh_runs()
        assert screen.summary.losses[-1] == pytest.approx(1 / 40)
        assert "Samples at step 40" in str(screen.query_one("#samples-title").render())
        await pilot.press("x")  # a finished run cannot be stopped: a warning, not a crash
        await wait_for(pilot, lambda: any("nothing to stop" in n.message for n in app._notifications))


async def test_train_form_refuses_a_bad_setting_with_its_name(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "4", "train")
        await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "runs-table")
        screen = app.screen
        screen.query_one("#set-train-lr").value = "fast"
        await pilot.press("s")
        await wait_for(pilot, lambda: len(app._notifications) >= 1)
        screen.query_one("#set-train-lr").value = "1e-4"
        screen.query_one("#set-train-warmup").value = "-5"
        await pilot.press("s")
        await wait_for(pilot, lambda: any("train.warmup" in n.message for n in app._notifications))
        messages = [n.message for n in app._notifications]
    assert any("learning rate must be a number" in m for m in messages)
    assert any("train.warmup" in m for m in messages)
    assert sorted(p.name for p in (project / "runs").iterdir()) == ["train-a", "train-b"]


async def test_job_events_become_notifications_and_a_death_is_announced(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        live = RunDir(project / "runs" / "train-c").create()
        import os

        live.write_status(state=RunState.RUNNING, pid=os.getpid(), step=1, total_steps=10)
        app.poll_runs()
        live.append_event("checkpoint", step=5)
        live.write_status(pid=2**22 + 999)
        app.poll_runs()
        await wait_for(pilot, lambda: len(app._notifications) >= 2)
        messages = [n.message for n in app._notifications]
    assert any("train-c: checkpoint 5" in m for m in messages)
    assert any("worker died" in m for m in messages)


async def test_intent_reference_regions_and_rules_chat(project: Path) -> None:
    pytest.importorskip("tuitune.intent.rules")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "1", "intent")
        screen = app.screen
        await press_to_focus(pilot, "ctrl+r", focused="ref-input")
        await pilot.press(*"images/item2.png:4,4,20,20", "enter")
        await wait_for(pilot, lambda: any(r.number == 2 for r in screen.dialogue.regions))
        await press_to_focus(pilot, "ctrl+l", focused="chat-input")
        await pilot.press(*"keep the shape [2]", "enter")
        await wait_for(pilot, lambda: len(screen.dialogue.turns) == 7 and not screen.busy)
    saved = stored_history(project)
    assert saved.regions[-1].number == 2 and saved.regions[-1].box == (4.0, 4.0, 20.0, 20.0)
    assert saved.turns[-2].text == "keep the shape [2]"
    assert len(saved.turns) == 7 and saved.current.version == 3


async def test_generate_shows_history_pair_and_validates(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "5", "generate")
        screen = app.screen
        await wait_for(pilot, lambda: screen.current_record() is not None)
        assert screen.current_record()["id"] == "g1"
        assert screen.query_one("#gen-base").path.name == "g1-base.png"
        assert screen.query_one("#gen-lora-image").path.name == "g1-lora.png"
        await press_to_focus(pilot, "ctrl+e", focused="gen-prompt")
        await pilot.press(*"zxq", "tab", "tab")
        screen.query_one("#gen-seed").value = "minus one"
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: any("seed must be a number" in n.message for n in app._notifications))
    assert len(list((project / "runs").iterdir())) == 2


async def test_grid_with_ten_thousand_items_decodes_only_what_is_visible(tmp_path: Path) -> None:
    from textual.app import App

    from tuitune.ui.widgets.thumb_grid import GridEntry, ThumbGrid

    picture = tmp_path / "one.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(picture)

    class GridApp(App):
        def compose(self):
            yield ThumbGrid(id="grid")

    app = GridApp()
    async with app.run_test(size=(80, 24)) as pilot:
        grid = app.query_one(ThumbGrid)
        grid.set_entries([GridEntry(tmp_path / f"{n}.png", str(n)) for n in range(10_000)])
        await wait_for(pilot, lambda: grid.loads > 0 and grid.pending == 0)
        assert grid.loads < 40  # one screenful, not 10,000
        await pilot.press("end")
        await wait_for(pilot, lambda: grid.cursor == 9_999 and grid.scroll_offset.y > 0)
        await wait_for(pilot, lambda: grid.pending == 0)
        assert grid.loads < 80  # the first screenful and the last one: nothing in between was decoded


async def test_plot_draws_a_new_run_at_once_and_a_streaming_one_at_most_every_few_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.app import App

    from tuitune.ui.widgets import run_plot
    from tuitune.ui.widgets.run_plot import RunPlot

    # A growing run's next slot is made an hour away, so "at once" needs no clock: only a drawing that
    # does not wait for the slot can happen within the test.
    monkeypatch.setattr(run_plot, "MIN_REDRAW_SECONDS", 3600.0)

    class PlotApp(App):
        def compose(self):
            yield RunPlot("loss", id="plot")

    app = PlotApp()
    async with app.run_test(size=(60, 16)) as pilot:
        plot = app.query_one(RunPlot)
        await wait_for(pilot, lambda: plot.drawings >= 1)  # the empty frame at its first size
        plot.show(list(range(10)), [1.0 / (s + 1) for s in range(10)], "run-a")
        await wait_for(pilot, lambda: plot.drawings >= 2)
        assert "loss" in str(plot.render())
        plot.show(list(range(11)), [1.0 / (s + 1) for s in range(11)], "run-a")
        await pilot.pause(0.5)
        assert plot.drawings == 2  # a growing run waits for its next slot
        plot.show([0, 1], [0.5, 0.4], "run-b")
        await wait_for(pilot, lambda: plot.drawings >= 3)  # another run: drawn at once


async def test_opening_another_project_shows_its_data_not_the_first_ones(project: Path, tmp_path: Path) -> None:
    other = make_project(tmp_path / "other")
    (other / "images" / "item0.txt").write_text("a caption only the other project has", encoding="utf-8")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "3", "dataset")
        await wait_for(pilot, lambda: app.screen.shown)
        await switch_to(pilot, "ctrl+o", "open")
        app.open_project(other)
        await wait_for(pilot, lambda: app.current_mode in ("intent", "dataset") and app.screen.project.root == other)
        if app.current_mode != "dataset":
            await switch_to(pilot, "3", "dataset")
        await wait_for(pilot, lambda: getattr(app.screen, "shown", None))
        assert app.screen.project.root == other
        item0 = next(i for i in app.screen.items if i.stem == "item0")
        assert item0.caption == "a caption only the other project has"
