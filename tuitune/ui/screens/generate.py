"""Generate screen: prompt and settings, base and LoRA side by side with the same seed, saved history, Fix mode."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from tuitune.evaluate.loras import LoraOffer, lora_offer
from tuitune.ui.screens.base import ProjectScreen
from tuitune.ui.screens.generate_fix import FixMode
from tuitune.ui.terminal_keys import is_ctrl_h
from tuitune.ui.widgets.fix_box import FixBox
from tuitune.ui.widgets.picture import Picture

if TYPE_CHECKING:
    from tuitune.generate.batch import GenerateRequest

NUMBER_FIELDS = (("seed", "0", int), ("steps", "20", int), ("guidance", "5.0", float), ("lora_scale", "1.0", float))
NO_LORA_YET = ("No LoRA yet: start a training run on the Train screen (4, then s); "
               "until one exists ctrl+g draws the base model alone.")
BASE_ONLY = "base only (no LoRA)"


class GenerateScreen(ProjectScreen):
    MODE = "generate"
    AUTO_FOCUS = "#gen-history"
    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate", id="generate.run",
                tooltip="Make base and LoRA images with the same seed (a generate job)"),
        # ctrl+h also when the terminal sends it as the ^H byte (tmux does): see on_key.
        Binding("ctrl+h", "focus_history", "History", id="generate.history", tooltip="Browse past generations"),
        Binding("escape", "focus_history", "History", id="generate.leave", show=False,
                tooltip="Leave the form for the history of generations"),
        Binding("ctrl+e", "focus_prompt", "Prompt", id="generate.prompt", tooltip="Edit the prompt"),
        Binding("f", "fix_mode", "Fix mode", id="generate.fix",
                tooltip="Mark a box on the base picture and queue a fix job for it (Focus-N-Fix)"),
        Binding("c", "compare_fix", "Compare fix", id="generate.compare",
                tooltip="Before and after of the newest fix of this generation's prompt, with its drift"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict] = []
        self._record_files = -1
        self._choices: list[tuple[str, str]] = []
        self._runs_stamp: tuple | None = None  # runs_stamp() when the LoRA offer was last compared
        self._offer = LoraOffer()
        self._default_prompt = ""
        self.fix = FixMode(self)

    def body(self) -> ComposeResult:
        protocol = self.app.settings.image_protocol  # type: ignore[attr-defined]
        with Horizontal(id="generate-body"):
            # One-line fields, so the form down to the Generate button fits a 24-row terminal unscrolled.
            with VerticalScroll(id="generate-form"):
                yield Label("Prompt")
                yield Input(id="gen-prompt", placeholder="type what to draw", compact=True)
                yield Label("Negative")
                yield Input(id="gen-negative", compact=True)
                for name, default, kind in NUMBER_FIELDS:
                    yield Label(name.replace("_", " "))
                    # Typed fields refuse letters as they are typed; the form still validates on ctrl+g.
                    yield Input(default, id=f"gen-{name}", type="integer" if kind is int else "number", compact=True)
                yield Label("LoRA")
                # The blank choice is "base only": a new user's first generation, before any training.
                yield Select([], id="gen-lora", prompt=BASE_ONLY, allow_blank=True, compact=True)
                yield Button("Generate (ctrl+g)", id="gen-run", variant="primary")
            with Vertical(id="generate-main"):
                with Horizontal(id="generate-pair"):
                    yield Picture(protocol, id="gen-base")
                    yield Picture(protocol, id="gen-lora-image")
                yield FixBox(id="gen-fix-box")
                info = Static("", id="gen-fix-info")
                info.display = False
                yield info
                yield Label("History", classes="pane-title")
                yield DataTable(id="gen-history", cursor_type="row")

    def populate(self) -> None:
        self.query_one("#gen-history", DataTable).add_columns("id", "prompt", "seed", "lora")
        self._set_choices(lora_offer(self.project.root))
        self._fill_default_prompt()
        self.reload_history(self.saved_selection().get("record"))
        self.poll_every(self.app.settings.poll_seconds * 2, self._poll_history)  # type: ignore[attr-defined]

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.ready:
            self.call_after_refresh(self._poll_history)
            self._check_loras()
            self._fill_default_prompt()

    def default_prompt(self) -> str:
        """The spec's trigger words: the prompt that calls what the LoRA learned ("" before any intent)."""
        from tuitune.ui.intent_history import latest_spec

        try:
            spec = latest_spec(self.project.handle)
        except Exception:  # an unreadable spec is reported on the Intent screen; here it only means no default
            return ""
        return " ".join(spec.trigger_words) if spec is not None else ""

    @work(thread=True, exclusive=True, group="generate-default-prompt")
    def _fill_default_prompt(self) -> None:
        """Read the spec in a thread (a database another process holds locked must not hold up a key)."""
        default = self.default_prompt()
        self.from_thread(self._show_default_prompt, default)

    def _show_default_prompt(self, default: str) -> None:
        """Fill the prompt unless the user typed their own; a changed spec updates an untouched default."""
        if not self.ready:
            return  # the screen was taken down while the spec was read
        prompt = self.query_one("#gen-prompt", Input)
        if prompt.value.strip() in ("", self._default_prompt) and default != prompt.value:
            prompt.value = default
        self._default_prompt = default

    @work(thread=True, exclusive=True, group="generate-loras")
    def _check_loras(self) -> None:
        """A run may have finished, checkpointed or been evaluated since the list was made: offer its LoRAs."""
        offer = lora_offer(self.project.root)
        if offer != self._offer:
            self.from_thread(self._set_choices, offer)

    def _set_choices(self, offer: LoraOffer) -> None:
        """Offer these LoRAs; the picker follows the default (★ recommended, else the newest run's) until the
        user picks another one, "base only" included."""
        select = self.query_one("#gen-lora", Select)
        keep = select.value
        following = keep == (self._offer.default if self._offer.default is not None else Select.NULL)
        had_loras = bool(self._choices)
        self._offer, self._choices = offer, offer.choices
        select.set_options(offer.choices)
        if not following and any(path == keep for _, path in offer.choices):
            select.value = keep
        elif (following or keep != Select.NULL) and offer.default is not None:
            select.value = offer.default
        if had_loras != bool(offer.choices) and self.is_mounted and self.query("#gen-history"):
            self.show_record(self.current_record())  # the LoRA side's sentence depends on having one

    def selection_state(self) -> dict:
        record = self.current_record()
        return {"record": record.get("id")} if record else {}

    def _poll_history(self) -> None:
        if self.on_terminal:
            self._check_history()

    @work(thread=True, exclusive=True, group="generate-poll")
    def _check_history(self) -> None:
        """Counts record files (no JSON parsing) and reloads only when a generation was added or removed."""
        import os

        try:
            with os.scandir(self.project.generations_dir) as entries:
                count = sum(1 for e in entries if e.name.endswith(".json"))
        except OSError:
            count = 0
        if count != self._record_files:
            self._record_files = count
            self.from_thread(self._reload_keeping_selection)
        # An evaluation or a run that finished while this screen is shown: offer its LoRAs (and ★) now, not at
        # the next visit. A stat per run folder file, no reading, unless one changed.
        from tuitune.ui.stamps import runs_stamp

        stamp = runs_stamp(self.project.runs_dir)
        if stamp != self._runs_stamp:
            known, self._runs_stamp = self._runs_stamp is not None, stamp
            if known and (offer := lora_offer(self.project.root)) != self._offer:  # the first poll only notes it
                self.from_thread(self._set_choices, offer)

    def _reload_keeping_selection(self) -> None:
        """Reload; a generation that arrived since (the ctrl+g just pressed) is shown at once, else the cursor
        stays on the record it was on."""
        known = {str(r.get("id")) for r in self.records}
        current = self.current_record()
        self.reload_history(current.get("id") if current else None)
        arrived = next((str(r.get("id")) for r in self.records if str(r.get("id")) not in known), None)
        if arrived is not None and known:
            table = self.query_one("#gen-history", DataTable)
            table.move_cursor(row=[str(r.get("id")) for r in self.records].index(arrived), animate=False)
            self.show_record(self.current_record())

    def reload_history(self, select_id: str | None = None) -> None:
        from tuitune.generate.record import list_generations

        self.records = list_generations(self.project.generations_dir)
        table = self.query_one("#gen-history", DataTable)
        table.clear()
        for record in self.records:
            params = record.get("params", {})
            lora = Path(record["lora"]).name if record.get("lora") else "-"
            table.add_row(str(record.get("id")), str(params.get("prompt", ""))[:40], str(params.get("seed", "")),
                          lora, key=str(record.get("id")))
        ids = [str(r.get("id")) for r in self.records]
        if select_id in ids:
            table.move_cursor(row=ids.index(select_id), animate=False)
        self.show_record(self.current_record())

    def current_record(self) -> dict | None:
        table = self.query_one("#gen-history", DataTable)
        return self.records[table.cursor_row] if 0 <= table.cursor_row < len(self.records) else None

    @on(DataTable.RowHighlighted, "#gen-history")
    def _highlighted(self) -> None:
        self.show_record(self.current_record())

    def show_record(self, record: dict | None) -> None:
        self._show_generation(record)
        self.fix.show(record)  # the box of Fix mode, or before and after of a fix, over it

    def _show_generation(self, record: dict | None) -> None:
        base = self.query_one("#gen-base", Picture)
        lora = self.query_one("#gen-lora-image", Picture)
        if record is None:
            base.show(None, caption="base: nothing generated yet; ctrl+g draws the prompt")
            lora.show(None, caption=NO_LORA_YET if not self._choices else "LoRA: ctrl+g draws it beside the base")
            return
        images = record.get("images", {})
        seed = record.get("params", {}).get("seed")
        folder = self.project.generations_dir
        base.show(folder / images["base"] if "base" in images else None, caption=f"base · seed {seed}")
        if "lora" in images:
            lora.show(folder / images["lora"], caption=f"LoRA · seed {seed}")
        elif not self._choices:
            lora.show(None, caption=NO_LORA_YET)
        else:
            lora.show(None, caption="This generation drew the base model alone; pick a LoRA and press ctrl+g "
                                    "for the pair.")

    # --- actions -------------------------------------------------------------------------------------
    def form_params(self) -> dict:
        """The form as generation parameters, validated; a bad field raises ValueError with one sentence."""
        from pydantic import ValidationError

        from tuitune.generate.params import GenerationParams

        values: dict = {
            "prompt": self.query_one("#gen-prompt", Input).value.strip(),
            "negative": self.query_one("#gen-negative", Input).value.strip(),
        }
        if not values["prompt"]:
            raise ValueError("Type a prompt first.")
        for name, _, kind in NUMBER_FIELDS:
            raw = self.query_one(f"#gen-{name}", Input).value.strip()
            try:
                values[name] = kind(raw)
            except ValueError:
                raise ValueError(f"{name.replace('_', ' ')} must be a number, not {raw!r}.") from None
        try:
            return GenerationParams.model_validate(values).model_dump()
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ValueError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}.") from None

    @on(Button.Pressed, "#gen-run")
    def action_generate(self) -> None:
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; generations are saved in it.", severity="warning")
            return
        try:
            params = self.form_params()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        selected = self.query_one("#gen-lora", Select).value
        self._submit(params, selected if isinstance(selected, str) else None)

    def generate_request(self, params: dict, lora: str | None) -> GenerateRequest:
        """The ``generate`` job's ``[generate]`` table: the project's request for one prompt and one seed, the one
        ``tuitune generate PROMPT --project PROJECT --seed N`` makes from the same values.

        Without ``lora`` the job draws the base model alone (no LoRA exists yet, or the user chose so).
        """
        from tuitune.generate.request import generate_request

        return generate_request(
            self.project.root, [params["prompt"]], lora=lora, negative=params["negative"], seeds=[params["seed"]],
            steps=params["steps"], guidance=params["guidance"], lora_scale=params["lora_scale"],
            sampler=params["sampler"], width=params["width"], height=params["height"],
        )

    def base_model(self) -> tuple[str, str]:
        """Fix mode's base model: the project's (a path inside the project made absolute: jobs run in their run
        folder) and its kind."""
        handle = self.project.handle
        base = handle.settings.base_model if handle is not None else "toyworld"
        kind = handle.settings.model_kind if handle is not None else "auto"
        local = Path(base).expanduser()
        if not local.is_absolute() and (self.project.root / local).exists():
            base = str(self.project.root / local)
        return base, kind

    @work(thread=True, exclusive=True, group="generate-submit")
    def _submit(self, params: dict, lora: str | None) -> None:
        """Build the request (it reads project.toml: not in the key press) and queue it."""
        from tuitune.errors import UserError
        from tuitune.generate.request import submit

        try:
            request = self.generate_request(params, lora)
        except UserError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        try:
            run = submit(self.project.root, request)
        except OSError as exc:
            self.app.call_from_thread(self.notify, f"The generation could not be queued ({exc}).", severity="error")
            return
        base_only = not request.lora
        self.app.call_from_thread(self.notify, self.queued_message(run.name, base_only))

    def queued_message(self, name: str, base_only: bool = False) -> str:
        """What happens to the new generate run: started now, or waiting for the job ahead of it."""
        from tuitune.jobs.machine import one_at_a_time
        from tuitune.jobs.queue import active_run

        ahead = active_run(self.project.runs_dir)
        if ahead is None or ahead.name == name:
            what = "the base image appears" if base_only else "the pair appears"
            return f"Generating as {name}; {what} here when it is done."
        return (f"{name} waits for {ahead.name} to finish ({one_at_a_time()}); stop that run on the Train "
                "screen (4, x) to generate sooner.")

    def on_key(self, event: events.Key) -> None:
        # A terminal's ctrl+h reaches a text field as a backspace: it opens History instead of deleting.
        if event.key == "backspace" and is_ctrl_h(event):
            event.stop()
            event.prevent_default()
            self.action_focus_history()

    def action_focus_history(self) -> None:
        self.query_one("#gen-history", DataTable).focus()

    def action_focus_prompt(self) -> None:
        self.query_one("#gen-prompt", Input).focus()

    # --- Fix mode (see generate_fix) -----------------------------------------------------------------
    def action_fix_mode(self) -> None:
        self.fix.toggle()

    def action_compare_fix(self) -> None:
        self.fix.compare()

    @on(FixBox.Changed)
    def _box_changed(self, event: FixBox.Changed) -> None:
        self.fix.draw(event.box)

    @on(FixBox.Confirmed)
    def _box_confirmed(self, event: FixBox.Confirmed) -> None:
        self.fix.confirm(event.box, event.picture_size)

    @on(FixBox.Left)
    def _box_left(self) -> None:
        self.fix.leave()
