"""Dataset screen: virtualised thumbnail grid, focused preview with mask overlay, caption editor, instances."""

from __future__ import annotations

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Static, TextArea

from tuitune.data.mask_presence import concepts_with_masks
from tuitune.errors import UserError
from tuitune.ui.project_view import DatasetItem
from tuitune.ui.screens.base import ProjectScreen
from tuitune.ui.widgets.picture import Picture
from tuitune.ui.widgets.thumb_grid import GridEntry, ThumbGrid


def matches(item: DatasetItem, query: str, masks: dict, unreadable: set, text: str | None = None) -> bool:
    """Filter words: plain text matches name or caption; ``mask:NAME`` needs that mask; ``unreadable``.

    ``text`` is the item's name and caption already lower-cased (worked out once per load, not per key).
    """
    haystack = text if text is not None else f"{item.stem}\n{item.caption}".lower()
    for word in query.lower().split():
        if word.startswith("mask:"):
            wanted = word.removeprefix("mask:")
            if not any(wanted in concept.lower() for concept in masks.get(item.stem, {})):
                return False
        elif word == "unreadable":
            if item.path not in unreadable:
                return False
        elif word not in haystack:
            return False
    return True


class DatasetScreen(ProjectScreen):
    MODE = "dataset"
    FILTER_IN_THREAD_FROM = 2000  # items; fewer are filtered at once, more in a thread so typing never waits
    AUTO_FOCUS = "#dataset-grid"
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="dataset.filter",
                tooltip="Filter by text, mask:NAME or unreadable"),
        # Short descriptions: at 120 columns the key bar holds all six keys with Help, Quit and the palette.
        Binding("m", "next_mask", "Masks", id="dataset.mask", tooltip="Cycle the mask overlay per concept"),
        Binding("e", "edit_caption", "Edit", id="dataset.edit", tooltip="Edit the caption of this item"),
        Binding("ctrl+s", "save_caption", "Save", id="dataset.save", tooltip="Save the edited caption"),
        Binding("a", "accept_proposal", "Use proposal", id="dataset.proposal",
                tooltip="Replace the caption with the optimiser's proposal"),
        Binding("i", "toggle_instance", "Accept/reject", id="dataset.instance",
                tooltip="Accept or reject the highlighted detected instance (from the grid: go to the instances)"),
        Binding("escape", "focus_grid", "Grid", id="dataset.grid", show=False, tooltip="Back to the grid"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[DatasetItem] = []
        self.shown: list[DatasetItem] = []
        self.masks_index: dict = {}
        self.overlay: int = -1  # index into the current item's concepts; -1 = no overlay
        self.query_text = ""
        # Per load: each item's concepts with a mask (one with a pixel set), its lower-cased text and grid
        # entry, so a key typed in the filter is one pass of substring tests over the items.
        self._item_masks: dict[str, set[str]] = {}
        self._haystacks: list[str] = []
        self._entries: list[GridEntry] = []
        self._spec_token: tuple[int, int] | None = None
        self._spec_value = None
        self._filter_request = 0
        self.filtering = False  # a filter runs in a thread; ``shown`` is the previous query's until it ends
        self._deciding = False  # an accept/reject is being saved (one at a time, so none overtakes another)

    def body(self) -> ComposeResult:
        with Horizontal(id="dataset-body"):
            with Vertical(id="dataset-left"):
                yield Input(placeholder="/ filter: text, mask:NAME, unreadable", id="dataset-filter")
                yield ThumbGrid(id="dataset-grid")
                yield Static("", id="dataset-count")
            with Vertical(id="dataset-right"):
                yield Picture(self.app.settings.image_protocol, id="dataset-preview")  # type: ignore[attr-defined]
                yield Static("", id="dataset-info")
                yield Label("Caption (e to edit, ctrl+s to save)", classes="pane-title")
                yield TextArea(id="dataset-caption", soft_wrap=True, show_line_numbers=False)
                yield Static("", id="dataset-proposal")
                yield DataTable(id="dataset-instances", cursor_type="row")

    def populate(self) -> None:
        self.query_one("#dataset-instances", DataTable).add_columns("concept", "#", "score", "accepted")
        saved = self.saved_selection()
        self.query_text = str(saved.get("filter", ""))
        self.query_one("#dataset-filter", Input).value = self.query_text
        # Stamped before the load starts, so the first resume does not start a second load that would
        # replace this one (the loads are exclusive) and lose the restored selection.
        self._stamp = self._files_stamp()
        self._load(saved.get("stem"))

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        # A detect or augment job may have written masks or items while another screen was shown.
        if self.ready and getattr(self, "_stamp", None) != self._files_stamp():
            item = self.current
            self._load(item.stem if item else self.saved_selection().get("stem"))

    def _files_stamp(self) -> tuple[int, ...]:
        stamps = []
        for name in ("dataset.json", "masks.json"):
            try:
                stamps.append((self.project.root / name).stat().st_mtime_ns)
            except OSError:
                stamps.append(0)
        return tuple(stamps)

    def selection_state(self) -> dict:
        item = self.current
        return {"stem": item.stem if item else None, "filter": self.query_text}

    @work(thread=True, exclusive=True, group="dataset-load")
    def _load(self, stem: str | None) -> None:
        self._stamp = self._files_stamp()
        items = self.project.items(refresh=True)
        try:
            masks = self.project.masks_index()
        except (OSError, ValueError):
            masks = {}
        present = concepts_with_masks(self.project.masks_dir, masks)
        self.from_thread(self._loaded, items, masks, present, stem)

    def _loaded(self, items: list[DatasetItem], masks: dict, present: dict[str, set[str]], stem: str | None) -> None:
        self.items = items
        self.masks_index = masks
        self._item_masks = present
        self._index_items()
        self._apply_filter(stem)
        grid = self.query_one("#dataset-grid", ThumbGrid)
        grid.focus()
        grid.check_pictures([item.path for item in items])

    def _index_items(self) -> None:
        self._haystacks = [f"{i.stem}\n{i.caption}".lower() for i in self.items]
        self._entries = [GridEntry(i.path, i.stem, badge=self._badge(i)) for i in self.items]

    def _apply_filter(self, stem: str | None = None) -> None:
        """Show the items matching the filter, the cursor on ``stem`` if it is among them.

        On a big project the matching runs in a thread: the key shows at once and the newest query wins.
        """
        self._filter_request += 1
        query = self.query_text
        if not query.strip():
            self._filtered(self._filter_request, range(len(self.items)), stem)
            return
        unreadable = set(self.query_one("#dataset-grid", ThumbGrid).unreadable)
        if len(self.items) < self.FILTER_IN_THREAD_FROM:
            self._filtered(self._filter_request, self._matching(query, unreadable), stem)
            return
        self.filtering = True
        self._filter_in_thread(self._filter_request, query, unreadable, stem)

    def _matching(self, query: str, unreadable: set, items: list[DatasetItem] | None = None,
                  haystacks: list[str] | None = None) -> list[int]:
        items = self.items if items is None else items
        haystacks = self._haystacks if haystacks is None else haystacks
        return [n for n, (item, text) in enumerate(zip(items, haystacks, strict=True))
                if matches(item, query, self._item_masks, unreadable, text)]

    @work(thread=True, exclusive=True, group="dataset-filter")
    def _filter_in_thread(self, request: int, query: str, unreadable: set, stem: str | None) -> None:
        items, haystacks = self.items, self._haystacks  # a reload replaces both lists; it does not change them
        if request != self._filter_request:
            return  # typed on since: the newer query runs instead
        picked = self._matching(query, unreadable, items, haystacks)
        self.from_thread(self._filtered, request, picked, stem, items)

    def _filtered(self, request: int, picked, stem: str | None, items: list[DatasetItem] | None = None) -> None:
        if request != self._filter_request or (items is not None and items is not self.items):
            return  # an older query (or a list since reloaded): the newer one's result is on its way
        self.filtering = False
        grid = self.query_one("#dataset-grid", ThumbGrid)
        self.shown = [self.items[n] for n in picked]
        cursor = next((n for n, i in enumerate(self.shown) if i.stem == stem), 0)
        grid.set_entries([self._entries[n] for n in picked], cursor=cursor)
        self._update_count()
        if not self.shown:
            self._show(None)

    def _update_count(self) -> None:
        grid = self.query_one("#dataset-grid", ThumbGrid)
        text = f"{len(self.shown)} of {len(self.items)} items"
        if grid.unreadable:
            names = ", ".join(p.name for p in list(grid.unreadable)[:3])
            text += f" · {len(grid.unreadable)} unreadable: {names}"
        if grid.checking:
            # Until every picture was tried once, the unreadable count (and that filter) is not complete.
            text += f" · checking pictures {grid.checked}/{grid.checking}"
        self.set_text("#dataset-count", text, layout=False)  # one line tall in the stylesheet

    def _set_line(self, selector: str, text: str) -> None:
        """Update a Static whose height follows its text: re-laid-out only when the old or new text wraps.

        Moving through the grid changes these on every key; a layout pass each time was most of a key's cost.
        """
        from rich.text import Text

        width = self.query_one(selector, Static).content_region.width
        old = self.shown_text(selector)

        def one_line(value: str | None) -> bool:
            return value is not None and "\n" not in value and Text.from_markup(value).cell_len <= width

        self.set_text(selector, text, layout=not (width and one_line(old) and one_line(text)))

    def _badge(self, item: DatasetItem) -> str:
        count = len(self._item_masks.get(item.stem, ()))
        return f"{count}m" if count else ""

    @property
    def current(self) -> DatasetItem | None:
        grid = self.query_one("#dataset-grid", ThumbGrid)
        return self.shown[grid.cursor] if 0 <= grid.cursor < len(self.shown) else None

    @on(ThumbGrid.Highlighted)
    def _highlighted(self, event: ThumbGrid.Highlighted) -> None:
        self.overlay = -1
        self._show(self.current)
        self._update_count()

    @on(ThumbGrid.Unreadable)
    def _unreadable(self) -> None:
        # The ``unreadable`` filter lists the newly found pictures too, not only those known when it was typed.
        if "unreadable" in self.query_text.lower().split():
            current = self.current
            self._apply_filter(current.stem if current else None)
        self._update_count()

    @on(ThumbGrid.Checked)
    def _checked(self) -> None:
        self._update_count()

    def _concepts(self, item: DatasetItem) -> list[str]:
        """The concepts this item has a mask of (an all-zero mask file is none)."""
        return sorted(self._item_masks.get(item.stem, ()))

    def _show(self, item: DatasetItem | None) -> None:
        preview = self.query_one("#dataset-preview", Picture)
        caption = self.query_one("#dataset-caption", TextArea)
        table = self.query_one("#dataset-instances", DataTable)
        if table.row_count:
            table.clear()
        if item is None:
            preview.show(None, caption="no items match" if self.items else "no images in this project yet")
            self._set_line("#dataset-info", "")
            caption.load_text("")
            return
        concepts = self._concepts(item)
        overlay_name = concepts[self.overlay] if 0 <= self.overlay < len(concepts) else None
        overlay_path = self.project.masks(item).get(overlay_name) if overlay_name else None
        preview.show(item.path, overlay=overlay_path)
        mask_text = ", ".join(f"[b]{escape(c)}[/b]" if c == overlay_name else escape(c) for c in concepts) or "none"
        self._set_line("#dataset-info",
                       f"{escape(item.path.name)} · masks: {mask_text}" + (" (m: overlay)" if concepts else ""))
        if caption.text != item.caption:
            caption.load_text(item.caption)
        self._set_line("#dataset-proposal", self._proposal_text(item))
        for concept, entry in sorted(self.masks_index.get(item.stem, {}).items()):
            for n, inst in enumerate(entry.get("instances", []) if isinstance(entry, dict) else []):
                # Similarity to the references when there were any, else the detector's own score.
                score = inst.get("similarity")
                score = inst.get("score") if score is None else score
                table.add_row(concept, str(n + 1), f"{score:.2f}" if isinstance(score, float) else "",
                              "yes" if inst.get("accepted", True) else "no", key=f"{concept}\x00{n}")

    def _spec(self):  # -> IntentSpec | None
        """The project's current spec, re-read only when a version was added since the last look."""
        from tuitune.intent.errors import IntentError
        from tuitune.ui import intent_history

        try:
            token = intent_history.history_token(self.project.handle)
            if token != self._spec_token:
                self._spec_token = token
                self._spec_value = intent_history.latest_spec(self.project.handle)
        except (IntentError, OSError):
            self._spec_value = None
        return self._spec_value

    def _proposal(self, item: DatasetItem) -> str | None:
        """The caption optimiser's rewrite of this item's caption for the current spec."""
        from tuitune.intent.captions import optimise

        spec = self._spec()
        if spec is None:
            return None
        return optimise(item.caption, spec)

    def _proposal_text(self, item: DatasetItem) -> str:
        proposal = self._proposal(item)
        if proposal is None:
            return "Proposal: none (state an intent on the Intent screen first)."
        if proposal == item.caption:
            return "Proposal: same as the caption."
        return f"Proposal (a to use): {escape(proposal)}"

    # --- actions -------------------------------------------------------------------------------------
    def action_focus_filter(self) -> None:
        self.query_one("#dataset-filter", Input).focus()

    def action_focus_grid(self) -> None:
        self.query_one("#dataset-grid", ThumbGrid).focus()

    @on(Input.Submitted, "#dataset-filter")
    @on(Input.Changed, "#dataset-filter")
    def _filter_changed(self, event: Input.Changed | Input.Submitted) -> None:
        if event.value == self.query_text and isinstance(event, Input.Changed):
            return
        self.query_text = event.value
        current = self.current
        self._apply_filter(current.stem if current else None)
        if isinstance(event, Input.Submitted):
            self.action_focus_grid()

    def action_next_mask(self) -> None:
        item = self.current
        if item is None:
            return
        concepts = self._concepts(item)
        if not concepts:
            self.notify("This item has no masks yet; run detection from the Concepts screen.", severity="warning")
            return
        self.overlay = self.overlay + 1 if self.overlay + 1 < len(concepts) else -1
        self._show(item)

    def action_edit_caption(self) -> None:
        self.query_one("#dataset-caption", TextArea).focus()

    def action_save_caption(self) -> None:
        item = self.current
        if item is None:
            return
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; the caption was not saved.", severity="warning")
            return
        text = self.query_one("#dataset-caption", TextArea).text
        try:
            self.project.save_caption(item, text)
        except OSError as exc:
            self.notify(f"Could not save the caption: {exc}", severity="error")
            return
        self.notify(f"Saved the caption of {item.stem}.")
        self.action_focus_grid()

    def action_accept_proposal(self) -> None:
        item = self.current
        proposal = self._proposal(item) if item else None
        if item is None or proposal is None:
            self.notify("There is no proposal for this item.", severity="warning")
            return
        self.query_one("#dataset-caption", TextArea).load_text(proposal)
        self.action_save_caption()

    def action_toggle_instance(self) -> None:
        item = self.current
        table = self.query_one("#dataset-instances", DataTable)
        if item is None or table.row_count == 0:
            self.notify("This item has no detected instances.", severity="warning")
            return
        if self.focused is not table:
            # Acting on a table without focus flipped whichever row its hidden cursor was on.
            table.focus()
            self.notify("Pick the instance with ↑↓, then i accepts or rejects it (esc: back to the grid).")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        concept, _, index = key.partition("\x00")
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; the decision was not saved.", severity="warning")
            return
        if self._deciding:
            self.notify("Still saving the last decision; press i again in a moment.", severity="warning")
            return
        entry = self.masks_index.get(item.stem, {}).get(concept, {})
        instance = entry.get("instances", [])[int(index)]
        self._deciding = True
        self._decide(item, concept, int(index), not instance.get("accepted", True))

    @work(thread=True, group="dataset-decide")
    def _decide(self, item: DatasetItem, concept: str, index: int, accepted: bool) -> None:
        """Save one decision off the UI thread: it waits for masks.json's lock, draws the mask, writes the DB."""
        error = None
        try:
            self.project.set_instance_accepted(item.stem, concept, index, accepted)
        except (UserError, OSError, IndexError) as exc:  # busy project, a detection that changed the file
            error = str(exc)
        try:
            fresh = self.project.masks_index()  # what is on disk, whichever step failed
        except (OSError, ValueError):
            fresh = None
        present = concepts_with_masks(self.project.masks_dir, fresh) if fresh is not None else {}
        self.from_thread(self._decided, item, error, fresh, present)

    def _decided(self, item: DatasetItem, error: str | None, fresh: dict | None,
                 present: dict[str, set[str]]) -> None:
        self._deciding = False
        if error is not None:
            self.notify(f"Could not change the instance: {error}", severity="error")
        if fresh is None or not self.ready:
            return
        self.masks_index = fresh
        self._item_masks = present
        for entry in self._entries:  # the badge of the item decided on (a rejected last instance: no mask)
            if entry.label == item.stem:
                entry.badge = self._badge(item)
        self.query_one("#dataset-grid", ThumbGrid).redraw_entries()
        current = self.current
        if current is not None and current.stem == item.stem:
            table = self.query_one("#dataset-instances", DataTable)
            row = table.cursor_row
            self._show(current)
            table.move_cursor(row=min(table.row_count - 1, row))
