"""Intent screen: path completion from the project, numbered regions on the preview, streamed tokens, spec."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, press_to_focus, stored_history, switch_to, wait_for

from tuitune.intent.spec import Concept, Granularity, IntentSpec, Operation

pytestmark = pytest.mark.anyio



@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the app was started outside the project, as `tuitune open PATH` allows
    return root


async def test_reference_path_completes_from_the_project_and_its_region_is_numbered_on_the_preview(
        project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "1", "intent")
        # Focus moves after the key; a letter typed at once could go to the chat log.
        await press_to_focus(pilot, "ctrl+r", focused="ref-input")
        await pilot.press(*"images/item2.p")
        screen = app.screen
        box = screen.query_one("#ref-input")
        await wait_for(pilot, lambda: box._suggestion == "images/item2.png")
        await pilot.press("right", *":4,4,20,20", "enter")
        preview = screen.query_one("#ref-preview")
        await wait_for(pilot, lambda: preview.message is None and "item2.png" in preview.caption)
        assert "[2]" in preview.caption
        drawn = preview.shown_image
        # Region 2's outline is drawn in its own colour on the box edge (below its label); inside, the picture.
        assert drawn.getpixel((4, 18)) == (0, 220, 255)
        assert drawn.getpixel((12, 18)) == (40, 40, 200)


class SlowParser:
    """A parser that streams two tokens, then waits until the test lets it answer."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def parse(self, text, current, regions, on_token=None):
        on_token("keep the ")
        on_token("shape")
        self.release.wait(10)
        return IntentSpec(trigger_words=["zxq"], concepts=[
            Concept(name="shape", granularity=Granularity.INSTANCE, operation=Operation.KEEP),
            Concept(name="hat", granularity=Granularity.INSTANCE, operation=Operation.MODIFY),
        ])


async def test_tokens_stream_while_the_parser_works_and_the_spec_appears_beside_the_chat(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr("tuitune.intent.backends.make_parser", lambda *a, **k: SlowParser(release))
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "1", "intent")
        await pilot.press("ctrl+b", "ctrl+b", "ctrl+b")  # all the way round: rules again
        await press_to_focus(pilot, "ctrl+l", focused="chat-input")
        await pilot.press(*"add a hat", "enter")
        screen = app.screen
        stream = screen.query_one("#chat-stream")
        await wait_for(pilot, lambda: str(stream.content) == "keep the shape")
        assert screen.busy
        release.set()
        await wait_for(pilot, lambda: not screen.busy)
        await pilot.pause()
        assert str(stream.content) == ""
        table = screen.query_one("#spec-table")
        assert [row.value for row in table.rows] == ["shape", "hat"]
        assert "Spec v3" in str(screen.query_one("#spec-head").content)


async def test_typing_on_the_chat_log_starts_a_message_and_esc_gives_the_screen_keys_back(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "1", "intent")
        screen = app.screen
        assert app.focused.id == "chat-log"
        # Letters typed at once, before the focus has moved, all reach the message in order.
        await pilot.press(*"Keep it")
        box = screen.query_one("#chat-input")
        await wait_for(pilot, lambda: box.value == "Keep it")
        await wait_for(pilot, lambda: app.focused is box)  # once the typing pauses
        await pilot.press("space", *"2x")  # in the field, digits are text
        assert box.value == "Keep it 2x"
        await press_to_focus(pilot, "escape", focused="chat-log")
        await switch_to(pilot, "3", "dataset")  # on the chat log, digits switch screens again
        await switch_to(pilot, "1", "intent")
        await press_to_focus(pilot, "ctrl+r", focused="ref-input")
        await press_to_focus(pilot, "escape", focused="chat-log")
        assert box.value == "Keep it 2x"
        assert screen.query_one("#ref-input").value == ""


async def test_a_message_typed_in_one_burst_on_the_chat_log_arrives_whole_and_in_order(project: Path) -> None:
    """A paste or a fast typist: every key is queued before the first is handled. Moving the focus at the first
    letter lost the tail of such a message (and could reorder it); digits inside it are text, and the enter at
    its end sends it."""
    from textual import events

    text = "Keep the ring [1] shape; its colour may vary, 2 or 3 tints. Delete the watermark in the corner."
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await switch_to(pilot, "1", "intent")
        screen = app.screen
        assert app.focused.id == "chat-log"
        for character in text:  # posted at once, none handled yet: what a burst from the terminal is
            key = {" ": "space", "[": "left_square_bracket", "]": "right_square_bracket", ";": "semicolon",
                   ",": "comma", ".": "full_stop"}.get(character, character)
            app.post_message(events.Key(key, character))
        app.post_message(events.Key("enter", "\r"))
        await wait_for(pilot, lambda: any(t.text == text for t in stored_history(project).turns
                                          if t.role == "user"), timeout=60)
        assert app.current_mode == "intent"  # the digits were text, not screen switches
        assert screen.query_one("#chat-input").value == ""


def _add_dont_care(root: Path) -> None:
    """A third spec version whose background "doesn't matter" (stored with the 0.1 marker weight)."""
    from tuitune.intent.spec import DONT_CARE_WEIGHT
    from tuitune.project.project import Project

    current = stored_history(root).current
    data = current.model_dump(mode="json", exclude={"version"})
    data["concepts"].append({"name": "background", "granularity": "imagery", "operation": "modify",
                             "loss_weight": DONT_CARE_WEIGHT, "preserve": 1.0})
    with Project.open(root) as handle:
        handle.db.save_spec(data, "the background doesn't matter")


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
async def test_spec_beside_the_chat_keeps_name_operation_and_weight_whole(project: Path, size) -> None:
    _add_dont_care(project)
    app = app_for(project)
    async with app.run_test(size=size) as pilot:
        await switch_to(pilot, "1", "intent")
        table = app.screen.query_one("#spec-table")
        await wait_for(pilot, lambda: table.row_count == 4)
        await pilot.pause(0.2)
        headers = [str(c.label) for c in table.columns.values()]
        assert headers[:3] == ["name", "op", "weight"]
        # Every column drawn is whole: together they fit the pane (no column cut at the right edge).
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= table.scrollable_content_region.width
        weights = {key.value: str(table.get_cell(key, "weight")) for key in table.rows}
        # The loss gives a "doesn't matter" region full weight; the stored marker 0.1 is not what it uses.
        assert weights == {"shape": "1", "watermark": "0", "colour": "1", "background": "1 (any)"}
        await switch_to(pilot, "2", "concepts")  # the editing table keeps every column and says it in full
        concepts = app.screen.query_one("#concepts-table")
        await wait_for(pilot, lambda: concepts.row_count == 4)
        assert str(concepts.get_cell("background", "weight")) == "1 kept (doesn't matter)"
        assert str(concepts.get_cell("shape", "weight")) == "1 (default)"
