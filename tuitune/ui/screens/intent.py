"""Intent screen: chat with the chosen parser (tokens streamed live), reference regions, the resulting spec."""

from __future__ import annotations

from pathlib import Path

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from tuitune.errors import UserError
from tuitune.intent.dialogue import Dialogue
from tuitune.intent.errors import IntentError
from tuitune.intent.spec import IntentSpec, Operation
from tuitune.ui import intent_history
from tuitune.ui.screens.base import ProjectScreen
from tuitune.ui.widgets.path_suggester import PathSuggester
from tuitune.ui.widgets.picture import Picture, draw_regions
from tuitune.ui.widgets.spec_table import SpecTable

# "local" (a transformers model) imports torch, which the UI process never does: it runs as a subprocess.
BACKENDS = ("rules", "ollama", "local")
ASK = "say what to keep, change or remove"
NEUTRAL_EXAMPLE = ("keep its shape", "any colour", "remove the watermark")
EXAMPLE_WORDS = {Operation.KEEP: "keep the {}", Operation.MODIFY: "any {}", Operation.DELETE: "remove the {}"}


def chat_placeholder(spec: IntentSpec | None, width: int) -> str:
    """The message field's hint in at most ``width`` cells: what to say, then as much of an example as fits,
    in the project's own concepts (its first keep, modify and delete one), else a neutral one."""
    parts: list[str] = []
    for operation, words in EXAMPLE_WORDS.items():
        concept = next((c for c in (spec.concepts if spec else []) if c.operation is operation), None)
        if concept is not None:
            parts.append(words.format(concept.name))
    parts = parts or list(NEUTRAL_EXAMPLE)
    for count in range(len(parts), 0, -1):
        hint = f"{ASK} — e.g. {', '.join(parts[:count])}"
        if len(hint) <= width:
            return hint
    return ASK


TYPING_PAUSE_SECONDS = 0.25  # letters typed on the chat log move the focus to the message after this pause


class ChatMessage(Static):
    def __init__(self, role: str, text: str) -> None:
        super().__init__(text, classes=f"chat-{role}", markup=False)
        self.role = role


class IntentScreen(ProjectScreen):
    MODE = "intent"
    # Focus the conversation, not the input, so the screen keys (1-5) work until the user starts typing; any
    # other letter typed there starts a message (on_key), and esc comes back.
    AUTO_FOCUS = "#chat-log"
    BINDINGS = [
        Binding("ctrl+b", "next_backend", "Parser", id="intent.backend",
                tooltip="Switch the parser: rules (offline), ollama, or a local model"),
        Binding("ctrl+r", "focus_reference", "Add reference", id="intent.reference",
                tooltip="Attach a reference image (PATH or PATH:x0,y0,x1,y1)"),
        Binding("ctrl+l", "focus_chat", "Chat", id="intent.chat", tooltip="Type a message"),
        Binding("escape", "leave_input", "Chat log", id="intent.leave", show=False,
                tooltip="Leave the message or reference field for the chat log (1-5 switch screens there)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.dialogue = Dialogue()
        self.backend = "rules"
        self.busy = False
        self._token: tuple[int, int] | None = None
        self._typing_timer: Timer | None = None  # letters typed on the chat log are going to the message

    def body(self) -> ComposeResult:
        with Horizontal(id="intent-body"):
            with Vertical(id="intent-chat"):
                yield VerticalScroll(id="chat-log")
                yield Static("", id="chat-stream", markup=False)
                # Not selecting all on focus: a letter typed on the chat log is put in before the focus arrives,
                # and the next letter would replace it.
                # The hint is fitted to the field's width and the project's concepts (_fit_placeholder).
                yield Input(placeholder=ASK, id="chat-input", select_on_focus=False)
                yield Input(placeholder="reference image: PATH or PATH:x0,y0,x1,y1 (ctrl+r)",
                            suggester=PathSuggester(images_only=True, relative_to=lambda: self.project.root),
                            id="ref-input")
                yield Static("", id="intent-status")
            with Vertical(id="intent-side"):
                yield Picture(self.app.settings.image_protocol, id="ref-preview")  # type: ignore[attr-defined]
                yield Static("", id="spec-head")
                yield Label("Concepts", classes="pane-title")
                yield SpecTable(id="spec-table", fit_width=True)

    def populate(self) -> None:
        self.backend = self.saved_selection().get("backend") or self._project_backend()
        if self.backend not in BACKENDS:
            self.backend = "rules"
        self._reload()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        # The Concepts screen adds versions too; reload only when the history changed.
        if self.ready and not self.busy and self._token != self._current_token():
            self._reload()

    def _current_token(self) -> tuple[int, int] | None:
        try:
            return intent_history.history_token(self.project.handle)
        except (IntentError, OSError):
            return None

    def _reload(self) -> None:
        try:
            self.dialogue = intent_history.load_history(self.project.handle)
        except IntentError as exc:
            self.notify(str(exc), severity="error", timeout=15)
        self._token = self._current_token()
        log = self.query_one("#chat-log", VerticalScroll)
        log.remove_children()
        log.mount_all([ChatMessage(turn.role, turn.text) for turn in self.dialogue.turns])
        log.scroll_end(animate=False)
        self._show_spec()
        self._show_regions()
        self._status()

    def _project_backend(self) -> str:
        handle = self.project.handle
        parser = handle.settings.intent.parser if handle is not None else "rules"
        return {"transformers": "local"}.get(parser, parser)

    def _parser_settings(self) -> tuple[str | None, str | None]:
        """(model, ollama host) from project.toml's [intent]."""
        handle = self.project.handle
        if handle is None:
            return None, None
        intent = handle.settings.intent
        return intent.model or None, intent.ollama_host

    def selection_state(self) -> dict:
        return {"backend": self.backend}

    def _status(self, extra: str = "") -> None:
        text = f"parser: {self.backend} (ctrl+b)"
        if self.backend == "local" and not extra:
            model, _ = self._parser_settings()
            text += f" · model: {model or 'bundled SmolLM2 (set [intent] model in project.toml)'}"
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
        self._fit_placeholder()

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_placeholder)

    def _fit_placeholder(self) -> None:
        box = self.query_one("#chat-input", Input)
        # One cell is left for the cursor.
        box.placeholder = chat_placeholder(self.dialogue.current, box.content_size.width - 1)

    def _show_regions(self) -> None:
        preview = self.query_one("#ref-preview", Picture)
        regions = self.dialogue.regions
        if not regions:
            preview.show(None, caption="No reference images yet (ctrl+r).")
            return
        image = regions[-1].image
        boxes = [(r.number, r.box) for r in regions if r.image == image]
        self._draw_regions(preview, self._resolve(image), boxes)

    @work(thread=True, exclusive=True, group="intent-regions")
    def _draw_regions(self, preview: Picture, path: Path, boxes: list) -> None:
        """Decode and outline in a thread; the screen only swaps the finished picture in."""
        from tuitune.ui.widgets.picture import load_rgb

        try:
            rgb = load_rgb(path)
        except (OSError, ValueError) as exc:
            self.from_thread(preview.show, None, None, f"✗ cannot read {path.name}: {exc.__class__.__name__}")
            return
        numbers = ", ".join(f"[{n}]" for n, _ in boxes)
        self.from_thread(preview.show_image, draw_regions(rgb, boxes), f"{path.name} {numbers}")

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
        streamed: list[str] = []

        def on_token(token: str) -> None:
            streamed.append(token)
            self.from_thread(lambda text: self.query_one("#chat-stream", Static).update(text), "".join(streamed)[-2000:])

        current = self.dialogue.current
        spec: IntentSpec | None = None
        error: str | None = None
        try:
            if backend == "local":
                from tuitune.ui.local_parse import parse_in_subprocess

                model, _ = self._parser_settings()
                spec = parse_in_subprocess(text, current, self.dialogue.regions, model,
                                           self.project.cache_dir, on_token)
            else:
                from tuitune.intent.backends import make_parser

                model, host = self._parser_settings()
                parser = make_parser(backend, model=model if backend == "ollama" else None, host=host)
                spec = parser.parse(text, current, self.dialogue.regions, on_token)
        except IntentError as exc:
            error = str(exc)
        self.from_thread(self._answered, text, current, spec, error)

    def _answered(self, text: str, current: IntentSpec | None, spec: IntentSpec | None, error: str | None) -> None:
        """Store the turn (on the app's thread: the DB connection is not shared with workers) and show it."""
        self.busy = False
        self.query_one("#chat-stream", Static).update("")
        try:
            if spec is not None:
                spec = intent_history.record_parse(self.project.handle, text, spec, current)
            else:
                # The failed turn is kept too, so the conversation reads as it happened.
                intent_history.record_failure(self.project.handle, text, error or "no answer", current)
        except UserError as exc:  # the DB says so for a read-only project or a full disk
            error = str(exc)
        except OSError as exc:
            error = f"The spec could not be saved ({exc}); check the project folder is writable."
        self._reload()
        if error:
            self.query_one("#chat-log", VerticalScroll).mount(ChatMessage("assistant", error))
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
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; the reference was not kept.", severity="warning")
            return
        try:
            intent_history.record_region(self.project.handle, region, self.dialogue.current)
        except (UserError, OSError) as exc:
            self.notify(f"The reference could not be saved ({exc}).", severity="error")
            return
        self.dialogue.regions.append(region)
        self._token = self._current_token()
        self.query_one("#chat-log", VerticalScroll).mount(ChatMessage("user", f"reference [{number}]: {text}"))
        event.input.value = ""
        self._show_regions()
        self.notify(f"Added region [{number}]; refer to it in a message like 'keep this [{number}]'.")

    # --- actions -------------------------------------------------------------------------------------
    def action_next_backend(self) -> None:
        order = BACKENDS
        self.backend = order[(order.index(self.backend) + 1) % len(order)]
        self._status()

    def action_focus_reference(self) -> None:
        self.query_one("#ref-input", Input).focus()

    def action_focus_chat(self) -> None:
        self.query_one("#chat-input", Input).focus()

    def action_leave_input(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#chat-log", VerticalScroll).focus()

    def on_key(self, event: events.Key) -> None:
        """A character no key binding takes, typed outside the fields, goes into the message instead of
        being lost; the field takes the focus once the typing pauses.

        The focus waits because keys typed in a burst (a fast typist, a paste) are already on their way to the
        widget that had the focus: had it moved at the first letter, those would reach this handler after the
        field had the focus and later letters went straight to the field, so letters were lost or reordered.
        Until the pause every letter comes this way, in order, digits and enter included (mid-sentence a digit
        is text, not a screen switch)."""
        in_field = isinstance(self.focused, Input)  # a field takes its letters itself: one here was on its way
        box = self.query_one("#chat-input", Input)
        typing = self._typing_timer is not None
        if typing and not in_field and event.key in ("enter", "backspace"):
            event.stop()
            event.prevent_default()
            if event.key == "backspace":
                box.action_delete_left()
                self._typed()
            else:
                self._focus_typed()
                self.call_later(box.action_submit)  # a coroutine: run by the message loop, after the letters
            return
        if not event.is_printable or not event.character:
            return
        if event.key in self.active_bindings and not typing and not in_field:  # 1-5, ? keep their meaning
            return
        event.stop()
        event.prevent_default()
        box.insert_text_at_cursor(event.character)
        if not in_field:
            self._typed()

    def _typed(self) -> None:
        if self._typing_timer is not None:
            self._typing_timer.stop()
        self._typing_timer = self.set_timer(TYPING_PAUSE_SECONDS, self._focus_typed)

    def _focus_typed(self) -> None:
        """The typing paused: the message field takes the focus (at once, not at the next idle moment)."""
        if self._typing_timer is not None:
            self._typing_timer.stop()
            self._typing_timer = None
        box = self.query_one("#chat-input", Input)
        if self.focused is not box and not isinstance(self.focused, Input):
            self.set_focus(box)

