"""Intent screen: chat with the chosen parser (tokens streamed live), reference regions, the resulting spec."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Label, Static

from tuitune.intent.dialogue import Dialogue
from tuitune.intent.errors import IntentError
from tuitune.ui.intent_store import load_dialogue, save_dialogue
from tuitune.ui.screens.base import ProjectScreen
from tuitune.ui.widgets.path_suggester import PathSuggester
from tuitune.ui.widgets.picture import Picture, draw_regions
from tuitune.ui.widgets.spec_table import SpecTable

# The local transformers backend imports torch, which the UI process never does: it runs as a CLI job.
IN_PROCESS_BACKENDS = ("rules", "ollama")


class ChatMessage(Static):
    def __init__(self, role: str, text: str) -> None:
        super().__init__(text, classes=f"chat-{role}", markup=False)
        self.role = role


class IntentScreen(ProjectScreen):
    MODE = "intent"
    # Focus the conversation, not the input, so the screen keys (1-5) work until the user starts typing.
    AUTO_FOCUS = "#chat-log"
    BINDINGS = [
        Binding("ctrl+b", "next_backend", "Parser", id="intent.backend",
                tooltip="Switch the parser: rules (offline) or ollama"),
        Binding("ctrl+r", "focus_reference", "Add reference", id="intent.reference",
                tooltip="Attach a reference image (PATH or PATH:x0,y0,x1,y1)"),
        Binding("ctrl+l", "focus_chat", "Chat", id="intent.chat", tooltip="Type a message"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.dialogue = Dialogue()
        self.backend = "rules"
        self.busy = False

    def body(self) -> ComposeResult:
        with Horizontal(id="intent-body"):
            with Vertical(id="intent-chat"):
                yield VerticalScroll(id="chat-log")
                yield Static("", id="chat-stream", markup=False)
                yield Input(placeholder="keep the face, change the hair colour to blue, remove the watermark",
                            id="chat-input")
                yield Input(placeholder="reference image: PATH or PATH:x0,y0,x1,y1 (ctrl+r)",
                            suggester=PathSuggester(images_only=True), id="ref-input")
                yield Static("", id="intent-status")
            with Vertical(id="intent-side"):
                yield Picture(self.app.settings.image_protocol, id="ref-preview")  # type: ignore[attr-defined]
                yield Static("", id="spec-head")
                yield Label("Concepts", classes="pane-title")
                yield SpecTable(id="spec-table")

    def on_mount(self) -> None:
        try:
            self.dialogue = load_dialogue(self.project.root) or Dialogue()
        except IntentError as exc:
            self.notify(str(exc), severity="error", timeout=15)
        self.backend = self.saved_selection().get("backend", "rules")
        if self.backend not in IN_PROCESS_BACKENDS:
            self.backend = "rules"
        log = self.query_one("#chat-log", VerticalScroll)
        for turn in self.dialogue.turns:
            log.mount(ChatMessage(turn.role, turn.text))
        log.scroll_end(animate=False)
        self._show_spec()
        self._show_regions()
        self._status()

    def selection_state(self) -> dict:
        return {"backend": self.backend}

    def _status(self, extra: str = "") -> None:
        text = f"parser: {self.backend} (ctrl+b)"
        self.query_one("#intent-status", Static).update(f"{text} · {extra}" if extra else text)

    def _show_spec(self) -> None:
        spec = self.dialogue.current
        head = self.query_one("#spec-head", Static)
        if spec is None:
            head.update("No spec yet: say what to keep, modify and delete.")
        else:
            words = ", ".join(spec.trigger_words) or "none"
            head.update(f"Spec v{spec.version} · trigger: {words} · domain: {spec.domain or 'not set'}")
        self.query_one("#spec-table", SpecTable).show_spec(spec)

    def _show_regions(self) -> None:
        preview = self.query_one("#ref-preview", Picture)
        regions = self.dialogue.regions
        if not regions:
            preview.show(None, caption="No reference images yet (ctrl+r).")
            return
        image = regions[-1].image
        boxes = [(r.number, r.box) for r in regions if r.image == image]
        try:
            from tuitune.ui.widgets.picture import load_rgb

            rgb = load_rgb(self._resolve(image))
        except (OSError, ValueError) as exc:
            preview.show(None, caption=f"✗ cannot read {image}: {exc.__class__.__name__}")
            return
        numbers = ", ".join(f"[{n}]" for n, _ in boxes)
        preview.show_image(draw_regions(rgb, boxes), caption=f"{Path(image).name} {numbers}")

    def _resolve(self, image: str) -> Path:
        path = Path(image).expanduser()
        return path if path.is_absolute() else self.project.root / path

    # --- chat ----------------------------------------------------------------------------------------
    @on(Input.Submitted, "#chat-input")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self.busy:
            self.notify("Wait for the answer to the last message.", severity="warning")
            return
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; the intent cannot change.", severity="warning")
            return
        event.input.value = ""
        self.query_one("#chat-log", VerticalScroll).mount(ChatMessage("user", text))
        self.busy = True
        self._status("thinking…")
        self.query_one("#chat-stream", Static).update("")
        self._parse(text, self.backend)

    @work(thread=True, exclusive=True, group="intent-parse")
    def _parse(self, text: str, backend: str) -> None:
        from tuitune.intent.parser import make_parser

        streamed: list[str] = []

        def on_token(token: str) -> None:
            streamed.append(token)
            self.app.call_from_thread(self.query_one("#chat-stream", Static).update, "".join(streamed)[-2000:])

        try:
            parser = make_parser(backend)
            try:
                self.dialogue.say(text, parser, on_token)
                error = None
            except IntentError as exc:
                error = str(exc)
            # The failed turn is kept too, so the conversation reads as it happened.
            save_dialogue(self.project.root, self.dialogue)
        except IntentError as exc:
            error = str(exc)
        except OSError as exc:
            error = f"The spec could not be saved ({exc}); check the project folder is writable."
        self.app.call_from_thread(self._answered, error)

    def _answered(self, error: str | None) -> None:
        self.busy = False
        self.query_one("#chat-stream", Static).update("")
        reply = self.dialogue.turns[-1].text if self.dialogue.turns else ""
        if error is not None:
            reply = error
        log = self.query_one("#chat-log", VerticalScroll)
        log.mount(ChatMessage("assistant", reply))
        log.scroll_end(animate=False)
        self._status()
        self._show_spec()
        if error:
            self.notify(error, severity="error", timeout=10)

    # --- references ----------------------------------------------------------------------------------
    @on(Input.Submitted, "#ref-input")
    def _add_reference(self, event: Input.Submitted) -> None:
        from tuitune.intent.regions import Region, parse_ref

        text = event.value.strip()
        if not text:
            return
        number = self.dialogue.next_region_number()
        try:
            path = self._resolve(text)
            if path.is_file():
                from PIL import Image

                with Image.open(path) as img:
                    width, height = img.size
                region = Region(number, str(path), (0.0, 0.0, float(width), float(height)))
            else:
                image, _, box = text.rpartition(":")
                region = parse_ref(f"{self._resolve(image)}:{box}", number)
        except IntentError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        except OSError as exc:
            self.notify(f"Cannot read {text}: {exc}", severity="error")
            return
        self.dialogue.regions.append(region)
        try:
            save_dialogue(self.project.root, self.dialogue)
        except OSError as exc:
            self.notify(f"The reference could not be saved ({exc}).", severity="error")
        event.input.value = ""
        self._show_regions()
        self.notify(f"Added region [{number}]; refer to it in a message like 'keep the face [{number}]'.")

    # --- actions -------------------------------------------------------------------------------------
    def action_next_backend(self) -> None:
        order = IN_PROCESS_BACKENDS
        self.backend = order[(order.index(self.backend) + 1) % len(order)]
        self._status()

    def action_focus_reference(self) -> None:
        self.query_one("#ref-input", Input).focus()

    def action_focus_chat(self) -> None:
        self.query_one("#chat-input", Input).focus()
