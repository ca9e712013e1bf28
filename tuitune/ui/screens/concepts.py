"""Concepts screen: the current spec's concepts edited in place, spec versions with diff, run detection."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Static

from tuitune.data.dataset import MASKS_FILE
from tuitune.data.mask_presence import found_counts
from tuitune.errors import UserError
from tuitune.intent.dialogue import Dialogue
from tuitune.intent.errors import IntentError
from tuitune.intent.spec import Granularity, IntentSpec, Operation, diff
from tuitune.ui import intent_history
from tuitune.ui.screens.base import ProjectScreen
from tuitune.ui.widgets.spec_table import SpecTable

EDITABLE = ("name", "granularity", "operation", "weight", "references", "alternatives")


def edited_spec(spec: IntentSpec, concept_name: str, column: str, text: str) -> IntentSpec:
    """``spec`` with one cell changed, as the next version; bad input raises ValueError with one sentence."""
    from pydantic import ValidationError

    data = spec.model_dump(mode="json")
    target = next((c for c in data["concepts"] if c["name"] == concept_name), None)
    if target is None:
        raise ValueError(f"There is no concept {concept_name!r} any more.")
    text = text.strip()
    if column == "weight":
        try:
            target["loss_weight"] = None if text in {"", "default"} else float(text)
        except ValueError:
            raise ValueError(f"Weight must be a number ≥ 0 or 'default', not {text!r}.") from None
    elif column == "references":
        try:
            target["references"] = [int(p.strip(" []")) for p in text.replace(",", " ").split() if p.strip(" []")]
        except ValueError:
            raise ValueError("References are region numbers like '1, 2'.") from None
    elif column == "alternatives":
        target["alternatives"] = [p.strip() for p in text.split(",") if p.strip()]
    elif column == "granularity":
        if text not in {g.value for g in Granularity}:
            raise ValueError("Granularity is attribute, instance or imagery.")
        target["granularity"] = text
    elif column == "operation":
        if text not in {o.value for o in Operation}:
            raise ValueError("Operation is keep, modify or delete.")
        target["operation"] = text
    else:
        target["name"] = text
    data["version"] = spec.version + 1
    try:
        return IntentSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{first['msg'].removeprefix('Value error, ')}.") from None


class ConceptsScreen(ProjectScreen):
    MODE = "concepts"
    AUTO_FOCUS = "#concepts-table"
    BINDINGS = [
        Binding("e,enter", "edit", "Edit cell", id="concepts.edit", tooltip="Edit the highlighted cell"),
        Binding("o", "cycle_operation", "Operation", id="concepts.operation",
                tooltip="Cycle keep / modify / delete for the highlighted concept"),
        Binding("v", "focus_versions", "Versions", id="concepts.versions",
                tooltip="Pick a spec version to compare with the current one"),
        Binding("ctrl+d", "detect", "Detect", id="concepts.detect",
                tooltip="Find every concept in the dataset (starts a detection job)"),
        Binding("escape", "cancel_edit", "Back", show=False, id="concepts.cancel",
                tooltip="Cancel the edit, or go back from the versions to the concepts"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.dialogue = Dialogue()
        self.column = "name"  # the field the cursor's column edits ("found" edits nothing)
        self.editing: tuple[str, str] | None = None
        self._token: tuple[int, int] | None = None
        self._counts: dict[str, int] = {}
        # masks.json as last read (mtime, size): detection and the Dataset screen change it while this screen
        # waits, so it is checked on every poll and visit, and read again only when it changed.
        self._masks_key: tuple[int, int] | None = (-1, -1)  # never read

    def body(self) -> ComposeResult:
        with Horizontal(id="concepts-body"):
            with Vertical(id="concepts-main"):
                yield Static("", id="concepts-head")
                yield SpecTable(id="concepts-table", with_found=True, cursor_type="cell")
                yield Input(placeholder="e edits the highlighted cell; Enter saves, Esc cancels",
                            id="concept-edit", disabled=True)
                yield Static("", id="concepts-message")
            with Vertical(id="concepts-side"):
                yield Label("Versions (v)", classes="pane-title")
                yield DataTable(id="versions-table", cursor_type="row")
                yield Label("Changes from the highlighted version to the current", classes="pane-title")
                yield Static("", id="versions-diff", markup=False)

    def populate(self) -> None:
        self.query_one("#versions-table", DataTable).add_columns("v", "concepts", "message")
        self.reload()
        self.query_one("#concepts-table", SpecTable).focus()
        self._check_masks()
        self.poll_every(self.app.settings.poll_seconds, self._tick)  # type: ignore[attr-defined]

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        # The Intent screen adds versions too; reload only when the stored history changed.
        if self.ready and self._token != self._current_token():
            self.reload()
        if self.ready:
            self._check_masks()

    def _tick(self) -> None:
        if self.on_terminal:
            self._check_masks()

    def _masks_signature(self) -> tuple[int, int] | None:
        try:
            stat = (self.project.root / MASKS_FILE).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _check_masks(self) -> None:
        key = self._masks_signature()
        if key != self._masks_key:
            self._read_found(key)

    @work(thread=True, exclusive=True, group="concepts-found")
    def _read_found(self, key: tuple[int, int] | None) -> None:
        """masks.json holds every instance of every item: read in a thread, then only the found cells change."""
        try:
            counts = found_counts(self.project.masks_index()) if key is not None else {}
        except (OSError, ValueError):
            counts = {}
        self.from_thread(self._show_found, key, counts)

    def _show_found(self, key: tuple[int, int] | None, counts: dict[str, int]) -> None:
        self._masks_key = key
        if counts != self._counts and self.ready:
            self._counts = counts
            self.query_one("#concepts-table", SpecTable).show_found(counts)

    def _current_token(self) -> tuple[int, int] | None:
        try:
            return intent_history.history_token(self.project.handle)
        except (IntentError, OSError):
            return None

    def reload(self) -> None:
        try:
            self.dialogue = intent_history.load_history(self.project.handle)
        except IntentError as exc:
            self.notify(str(exc), severity="error", timeout=15)
        self._token = self._current_token()
        spec = self.dialogue.current
        head = "No concepts yet: state an intent on the Intent screen (1)."
        if spec is not None:
            head = f"Spec v{spec.version} · {len(spec.concepts)} concepts · e edits a cell, o cycles the operation"
        self.query_one("#concepts-head", Static).update(head)
        self.query_one("#concepts-table", SpecTable).show_spec(spec, self._counts)
        versions = self.query_one("#versions-table", DataTable)
        versions.clear()
        for version in reversed(self.dialogue.versions):
            message = self.dialogue.message_for(version.version)[:40]
            versions.add_row(str(version.version), str(len(version.concepts)), message, key=str(version.version))
        self._show_diff()

    @on(DataTable.RowHighlighted, "#versions-table")
    def _show_diff(self) -> None:
        versions = self.query_one("#versions-table", DataTable)
        current = self.dialogue.current
        out = self.query_one("#versions-diff", Static)
        if current is None or versions.row_count == 0:
            out.update("")
            return
        key = versions.coordinate_to_cell_key(versions.cursor_coordinate).row_key.value
        old = self.dialogue.version(int(key or current.version))
        lines = diff(old, current) if old.version != current.version else ["(this is the current version)"]
        out.update("\n".join(lines) or "no change")

    # --- editing -------------------------------------------------------------------------------------
    def _highlighted_concept(self) -> str | None:
        table = self.query_one("#concepts-table", SpecTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(DataTable.CellHighlighted, "#concepts-table")
    def _cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self.column = str(event.cell_key.column_key.value or "")

    def action_edit(self) -> None:
        name = self._highlighted_concept()
        spec = self.dialogue.current
        if name is None or spec is None:
            self.notify("There is no concept to edit yet.", severity="warning")
            return
        column = self.column
        if column not in EDITABLE:
            self.notify("Detection counts the instances found; they change with detection, not by hand.",
                        severity="warning")
            return
        concept = spec.concept(name)
        current = {
            "name": concept.name,
            "granularity": concept.granularity.value,
            "operation": concept.operation.value,
            "weight": "default" if concept.loss_weight is None else f"{concept.loss_weight:g}",
            "references": ", ".join(str(r) for r in concept.references),
            "alternatives": ", ".join(concept.alternatives),
        }[column]
        self.editing = (name, column)
        box = self.query_one("#concept-edit", Input)
        box.disabled = False
        box.border_title = f"{name} · {column}"
        box.value = current
        box.focus()

    def action_cancel_edit(self) -> None:
        """Esc: drop an edit, or come back from the versions table to the concepts (nothing else leads back)."""
        if self.editing is not None:
            self.editing = None
            box = self.query_one("#concept-edit", Input)
            box.value = ""
            box.disabled = True
        self.query_one("#concepts-table", SpecTable).focus()

    @on(Input.Submitted, "#concept-edit")
    def _commit_edit(self, event: Input.Submitted) -> None:
        if self.editing is None or self.dialogue.current is None:
            return
        name, column = self.editing
        self._apply(name, column, event.value)

    def _apply(self, name: str, column: str, value: str) -> None:
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; the spec cannot change.", severity="warning")
            return
        current = self.dialogue.current
        assert current is not None
        try:
            spec = edited_spec(current, name, column, value)
        except ValueError as exc:
            self.query_one("#concepts-message", Static).update(f"✗ {exc}")
            return
        changes = diff(current, spec)
        try:
            intent_history.record_edit(self.project.handle, f"edited {name} {column}: {value}", spec, current)
        except (UserError, OSError) as exc:
            self.notify(f"The spec could not be saved ({exc}).", severity="error")
            return
        self.query_one("#concepts-message", Static).update("; ".join(changes) or "no change")
        self.action_cancel_edit()
        self.reload()

    def action_cycle_operation(self) -> None:
        name = self._highlighted_concept()
        spec = self.dialogue.current
        if name is None or spec is None:
            return
        order = [o.value for o in Operation]
        now = spec.concept(name).operation.value
        self._apply(name, "operation", order[(order.index(now) + 1) % len(order)])

    def action_focus_versions(self) -> None:
        self.query_one("#versions-table", DataTable).focus()

    # --- detection -----------------------------------------------------------------------------------
    def action_detect(self) -> None:
        if self.dialogue.current is None:
            self.notify("State an intent first: detection looks for the spec's concepts.", severity="warning")
            return
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; detection writes masks.", severity="warning")
            return
        self._submit_detection(self.dialogue.current.version)

    @work(thread=True, exclusive=True, group="concepts-detect")
    def _submit_detection(self, spec_version: int) -> None:
        """The request ``tuitune dataset detect --into PROJECT --detach`` makes: backends, threshold and the
        GPU queue as the project's [vision] settings say."""
        from tuitune.data.detect_job import detect_request, submit
        from tuitune.errors import UserError

        try:
            run = submit(detect_request(self.project.root, spec_version=spec_version))
        except (OSError, UserError) as exc:
            self.app.call_from_thread(self.notify, f"Detection could not be queued ({exc}).", severity="error")
            return
        self.app.call_from_thread(self.notify, f"Detection queued as {run.name}; the Train screen (4) follows it.")
