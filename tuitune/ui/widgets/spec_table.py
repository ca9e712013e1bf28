"""The concepts of an IntentSpec as a table: name, granularity, operation, weight, references, alternatives."""

from __future__ import annotations

from textual.widgets import DataTable

from tuitune.intent.spec import Concept, IntentSpec, Operation

# Default loss weight per operation (the shared [loss] mapping); shown when a concept has no override.
DEFAULT_WEIGHT = {Operation.KEEP: 1.0, Operation.MODIFY: 1.0, Operation.DELETE: 0.0}
COLUMNS = ("name", "granularity", "operation", "weight", "references", "alternatives", "found")


def weight_text(concept: Concept) -> str:
    if concept.loss_weight is not None:
        return f"{concept.loss_weight:g}"
    return f"{DEFAULT_WEIGHT[concept.operation]:g} (default)"


class SpecTable(DataTable):
    """Read-only view of a spec; the Concepts screen edits cells through its own actions."""

    def __init__(self, *, id: str | None = None, with_found: bool = False, cursor_type: str = "row") -> None:
        super().__init__(id=id, cursor_type=cursor_type, zebra_stripes=True)  # type: ignore[arg-type]
        self.with_found = with_found

    def on_mount(self) -> None:
        for column in COLUMNS if self.with_found else COLUMNS[:-1]:
            self.add_column(column, key=column)

    def show_spec(self, spec: IntentSpec | None, found: dict[str, int] | None = None) -> None:
        row = self.cursor_row
        self.clear()
        if spec is None:
            return
        for concept in spec.concepts:
            cells = [
                concept.name,
                concept.granularity.value,
                concept.operation.value,
                weight_text(concept),
                ", ".join(f"[{r}]" for r in concept.references),
                ", ".join(concept.alternatives),
            ]
            if self.with_found:
                count = (found or {}).get(concept.name)
                cells.append("" if count is None else str(count))
            self.add_row(*cells, key=concept.name)
        if self.row_count:
            self.move_cursor(row=min(max(row, 0), self.row_count - 1), animate=False)

    def show_found(self, found: dict[str, int]) -> None:
        """Change only the found counts: the cursor and an edit under way stay where they are."""
        for key in self.rows:
            if key.value is not None:
                count = found.get(key.value)
                self.update_cell(key, "found", "" if count is None else str(count), update_width=True)
