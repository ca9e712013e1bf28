"""Layout at the sizes people use: whole keys in the key bar at 120×36, each screen's main action on a 24-row
terminal without scrolling, run names on one line, the app's commands first in the palette, and an intent
hint that fits its field and speaks of the project's own concepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, switch_to, wait_for

from tuitune.jobs.rundir import RunDir, RunState

pytestmark = pytest.mark.anyio

SCREENS = (("1", "intent"), ("2", "concepts"), ("3", "dataset"), ("4", "train"), ("5", "generate"))
LONG_RUN = "train-20250101-123456-ring-close-ups"  # a dated name with the user's own words after it
# What each screen is for, to be on the terminal at 80×24 without scrolling.
MAIN_ACTIONS = {
    "intent": ("#chat-input",),
    "concepts": ("#concepts-table",),
    "dataset": ("#dataset-grid", "#dataset-caption"),
    "train": ("#runs-table", "#train-start"),
    "generate": ("#gen-prompt", "#gen-lora", "#gen-run"),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    # The newest run, with a final LoRA: the Generate screen's picker shows its long name by default.
    run = RunDir(root / "runs" / LONG_RUN).create()
    run.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
    run.write_status(state=RunState.FINISHED, pid=None, step=400, total_steps=400, created=3.0)
    run.lora_path.write_bytes(b"not read here")
    return root


def key_bar_entries(app) -> list[str]:
    """The key bar's line as the terminal shows it, cut into ``key description`` entries; a label that is not
    one a binding of the screen has (one cut short) fails the test."""
    bar = app.screen.query_one("KeyBar")
    line = str(bar.render())[: bar.size.width]
    whole = {"1-5 Screens"} | {
        f"{app.get_key_display(active.binding)} {active.binding.description or 'palette'}"
        for active in app.screen.active_bindings.values()
    }
    entries: list[str] = []
    position = 0
    while position < len(line):
        if line[position] == " ":
            position += 1
            continue
        ends = [w for w in whole if line.startswith(w, position) and line[position + len(w):][:1] in ("", " ")]
        assert ends, f"a cut or unknown key at {line[position:]!r} in the key bar {line!r}"
        entries.append(max(ends, key=len))
        position += len(entries[-1])
    return entries


def own_keys(app) -> list[str]:
    """The ``key description`` of each binding the screen itself shows in the key bar."""
    screen = app.screen
    found: list[str] = []
    for active in screen.active_bindings.values():
        entry = f"{app.get_key_display(active.binding)} {active.binding.description}"
        if active.node is screen and active.binding.show and entry not in found:
            found.append(entry)
    return found


def shown_whole(screen, selector: str) -> bool:
    """The widget is on the terminal, above the key bar, and nothing covers or clips its corners."""
    widget = screen.query_one(selector)
    region = widget.region
    if not region.area or region.bottom > screen.query_one("KeyBar").region.y:
        return False
    for x, y in ((region.x, region.y), (region.right - 1, region.bottom - 1)):
        hit, _ = screen.get_widget_at(x, y)
        if hit is not widget and widget not in hit.ancestors:
            return False
    return True


async def test_at_120_columns_every_key_in_the_bar_is_whole(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        for key, mode in SCREENS:
            await switch_to(pilot, key, mode)
            await wait_for(pilot, lambda: app.screen.ready)
            await pilot.pause(0.1)
            entries = key_bar_entries(app)
            missing = [k for k in [*own_keys(app), "f1 Help", "^q Quit", "^p palette"] if k not in entries]
            assert not missing, f"{mode}: {missing} left out of the key bar {entries}"


async def test_at_80x24_each_screens_main_action_is_on_the_terminal(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, mode in SCREENS:
            await switch_to(pilot, key, mode)
            await wait_for(pilot, lambda: app.screen.ready)
            await pilot.pause(0.2)
            app.clear_notifications()  # a toast in a corner is not what this test is about
            await pilot.pause(0.1)
            hidden = [s for s in MAIN_ACTIONS[mode] if not shown_whole(app.screen, s)]
            assert not hidden, f"{mode}: {hidden} below the fold or cut at 80x24"
        # Every key of the bar is whole at 80 columns too (fewer of them fit).
        assert "^g Generate" in key_bar_entries(app)
        # The LoRA picker shows a long run name on its one line, cut with an ellipsis.
        label = app.screen.query_one("#gen-lora").query_one("SelectCurrent #label")
        assert label.region.height == 1
        (line,) = label.render_lines(label.region.reset_offset)
        assert line.text.startswith(LONG_RUN[:12]) and line.text.rstrip().endswith("…")


async def test_the_palette_lists_the_apps_commands_before_textuals(project: Path) -> None:
    from textual.command import CommandList

    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "4", "train")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        hits = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: hits.option_count > 0)
        await pilot.pause(0.3)  # every provider has answered
        titles = [str(hits.get_option_at_index(i).prompt).splitlines()[0] for i in range(hits.option_count)]
    textuals = [t for t in ("Keys", "Screenshot", "Theme") if t in titles]
    assert textuals, titles  # Textual's commands are still offered
    assert titles[0] == "Start"  # the screen's first key
    last_app_command = max(titles.index(t) for t in ("Start", "Eval", "Help", "Generate", "Quit"))
    assert last_app_command < min(titles.index(t) for t in textuals), titles
    assert titles.count("Quit") == 1  # the app's Quit (it saves the screen shown), not Textual's as well


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_the_intent_hint_fits_its_field_and_names_the_projects_concepts(project: Path, size) -> None:
    app = app_for(project)
    async with app.run_test(size=size) as pilot:
        await switch_to(pilot, "1", "intent")
        await wait_for(pilot, lambda: app.screen.ready)
        await pilot.pause(0.2)
        box = app.screen.query_one("#chat-input")
        hint = str(box.placeholder)
        assert hint.startswith("say what to keep, change or remove")
        assert len(hint) < box.content_size.width  # shown whole, with a cell for the cursor
        if size == SIZE:  # room for an example, in this project's words (its spec keeps the shape)
            assert "keep the shape" in hint
        await pilot.resize_terminal(200, 50)
        await wait_for(pilot, lambda: "remove the watermark" in str(box.placeholder))
        assert "any colour" in str(box.placeholder) and len(str(box.placeholder)) < box.content_size.width
