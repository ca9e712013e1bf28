"""The Train screen's runs table: state, step and name of every run, in two-line rows on a narrow terminal."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tuitune.jobs.rundir import RunState

STATE_WIDTH = max(len(s.value) for s in RunState)

Row = tuple[str, RunState, str]  # run name, state, "step/total"


class RunsTable(DataTable):
    """Three columns on a wide terminal; below ``narrow_below`` columns one column of two-line rows (state and
    step over the run's name), so a long run name is never cut. Row keys are the run names."""

    def __init__(self, narrow_below: int, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.narrow_below = narrow_below
        self._rows: list[Row] = []
        self._narrow: bool | None = None  # the shape it has now (None: no columns yet)

    def show_runs(self, rows: list[Row], selected: str | None) -> None:
        """Show ``rows``, touching only the cells that changed, with the cursor on ``selected``."""
        narrow = self.app.size.width < self.narrow_below
        if narrow != self._narrow or [r[0] for r in rows] != [r[0] for r in self._rows]:
            self._fill(rows, narrow)
        else:
            # Same runs: only changed cells, so an idle table costs nothing to redraw.
            for row, old in zip(rows, self._rows, strict=True):
                name, state, step = row
                if narrow:
                    if row != old:
                        self.update_cell(name, "run", _two_lines(*row))
                    continue
                if state is not old[1]:
                    self.update_cell(name, "state", state.value)
                if step != old[2]:
                    self.update_cell(name, "step", step, update_width=True)
        self._rows = rows
        if selected is not None:
            index = [r[0] for r in rows].index(selected)
            if self.cursor_row != index:
                self.move_cursor(row=index, animate=False)

    def _fill(self, rows: list[Row], narrow: bool) -> None:
        if narrow == self._narrow:
            self.clear()
        else:
            self.clear(columns=True)
            self._narrow = narrow
            self.show_header = not narrow
            if narrow:
                self.add_column("run", key="run")
            else:
                # State first and as wide as its longest word: a narrow pane clips the run name, never the state.
                self.add_column("state", key="state", width=STATE_WIDTH)
                self.add_column("step", key="step")
                self.add_column("run", key="run")
        for name, state, step in rows:
            if narrow:
                self.add_row(_two_lines(name, state, step), key=name, height=2)
            else:
                self.add_row(state.value, step, Text(name), key=name)

    def on_resize(self) -> None:
        # Across the breakpoint the table changes shape at once, not at the next poll.
        if self._rows and (self.app.size.width < self.narrow_below) != self._narrow:
            selected = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value if self.row_count else None
            self.show_runs(self._rows, selected)


def _two_lines(name: str, state: RunState, step: str) -> Text:
    return Text(f"{state.value:<{STATE_WIDTH}}  {step}\n{name}")
