"""The concepts of an IntentSpec as a table: name, granularity, operation, weight, references, alternatives."""

from __future__ import annotations

from textual.widgets import DataTable

from tuitune.intent.spec import Concept, IntentSpec, is_dont_care, loss_defaults

COLUMNS = ("name", "granularity", "operation", "weight", "references", "alternatives", "found")

# A layout: (column key, header) pairs and whether weights are written short. A table that fits its width
# takes the first layout that fits, so on a narrow pane the columns that matter (name, operation, weight) stay
# whole instead of every column being cut at the right edge.
Layout = tuple[tuple[tuple[str, str], ...], bool]
FULL: Layout = (tuple((c, c) for c in COLUMNS[:-1]), False)
NARROWER: tuple[Layout, ...] = (
    FULL,
    ((("name", "name"), ("operation", "op"), ("weight", "weight"), ("references", "refs"),
      ("alternatives", "alternatives")), False),
    ((("name", "name"), ("operation", "op"), ("weight", "weight"), ("references", "refs")), False),
    ((("name", "name"), ("operation", "op"), ("weight", "weight"), ("references", "refs")), True),
    ((("name", "name"), ("operation", "op"), ("weight", "weight")), True),
)


def weight_text(concept: Concept, short: bool = False) -> str:
    """The loss weight training uses inside the concept's mask, and why when it is not the concept's own."""
    weight = f"{loss_defaults(concept)[0]:g}"
    if is_dont_care(concept):
        # Stored as a marker weight (0.1); the loss gives such regions full weight and keeps them preserved.
        return f"{weight} (any)" if short else f"{weight} kept (doesn't matter)"
    if concept.loss_weight is not None or short:
        return weight
    return f"{weight} (default)"


def cell(concept: Concept, column: str, short: bool = False) -> str:
    if column == "name":
        return concept.name
    if column == "granularity":
        return concept.granularity.value
    if column == "operation":
        return concept.operation.value
    if column == "weight":
        return weight_text(concept, short)
    if column == "references":
        return ", ".join(f"[{r}]" for r in concept.references)
    return ", ".join(concept.alternatives)


def layout_width(layout: Layout, concepts: list[Concept]) -> int:
    """Cells wide the layout draws these concepts in (one cell of padding each side of a column)."""
    columns, short = layout
    return sum(max([len(header)] + [len(cell(c, key, short)) for c in concepts]) + 2 for key, header in columns)


class SpecTable(DataTable):
    """Read-only view of a spec; the Concepts screen edits cells through its own actions.

    ``fit_width``: drop and shorten columns to fit the table's width (the Intent screen's side pane). Without it
    the columns never change, since the Concepts screen maps the cursor's column to the field it edits.
    """

    def __init__(self, *, id: str | None = None, with_found: bool = False, cursor_type: str = "row",
                 fit_width: bool = False) -> None:
        super().__init__(id=id, cursor_type=cursor_type, zebra_stripes=True)  # type: ignore[arg-type]
        self.with_found = with_found
        self.fit_width = fit_width
        self._layout: Layout | None = None
        self._spec: IntentSpec | None = None
        self._found: dict[str, int] | None = None

    def on_mount(self) -> None:
        self._use_layout(FULL)

    def _use_layout(self, layout: Layout) -> None:
        if layout == self._layout:
            return
        self._layout = layout
        self.clear(columns=True)
        for key, header in self._columns():
            self.add_column(header, key=key)

    def _columns(self) -> tuple[tuple[str, str], ...]:
        """The layout's columns; with the detection counts right after the operation, where they are seen
        (the last column was off the right edge of the pane at common widths)."""
        assert self._layout is not None
        columns = self._layout[0]
        if not self.with_found:
            return columns
        at = next((n + 1 for n, (key, _) in enumerate(columns) if key == "operation"), len(columns))
        return (*columns[:at], ("found", "found"), *columns[at:])

    def _fitting_layout(self, concepts: list[Concept]) -> Layout:
        room = self.scrollable_content_region.width
        if room <= 0:  # not laid out yet: on_resize decides
            return self._layout or FULL
        return next((lay for lay in NARROWER if layout_width(lay, concepts) <= room), NARROWER[-1])

    def show_spec(self, spec: IntentSpec | None, found: dict[str, int] | None = None) -> None:
        self._spec, self._found = spec, found
        row = self.cursor_row
        if self.fit_width:
            self._use_layout(self._fitting_layout(spec.concepts if spec is not None else []))
        self.clear()
        if spec is None:
            return
        assert self._layout is not None
        short = self._layout[1]
        for concept in spec.concepts:
            count = (found or {}).get(concept.name)
            cells = [("" if count is None else str(count)) if key == "found" else cell(concept, key, short)
                     for key, _ in self._columns()]
            self.add_row(*cells, key=concept.name)
        if self.row_count:
            self.move_cursor(row=min(max(row, 0), self.row_count - 1), animate=False)

    def on_resize(self) -> None:
        if self.fit_width and self._spec is not None:
            if self._fitting_layout(self._spec.concepts) != self._layout:
                self.show_spec(self._spec, self._found)

    def show_found(self, found: dict[str, int]) -> None:
        """Change only the found counts: the cursor and an edit under way stay where they are."""
        self._found = found
        for key in self.rows:
            if key.value is not None:
                count = found.get(key.value)
                self.update_cell(key, "found", "" if count is None else str(count), update_width=True)
