"""The Train screen's intent metrics per checkpoint: a table, then why values are n/a and which one to use."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from tuitune.evaluate.eval_view import EvalLine, EvalView

# Two-line headers keep the drift columns as narrow as their numbers. On a narrow terminal (about 42 columns
# for the run's pane at 80) values get two decimals and checkpoints lose "step_", so all seven columns fit.
WIDE_HEADERS = ("checkpoint", "keep", "modify", "delete", "drift\nfocus", "drift\nneutral", "score")
NARROW_HEADERS = ("ckpt", "keep", "mod", "del", "drift\nfocus", "drift\nneutr", "score")


SHORT_ROWS, TALL_ROWS = 3, 7  # checkpoints listed below and above the screen's height breakpoint


def shown_lines(lines: list[EvalLine], limit: int) -> list[EvalLine]:
    """At most ``limit`` checkpoints: the newest ones, and the recommended one wherever it is."""
    if len(lines) <= limit:
        return lines
    best = [line for line in lines if line.recommended]
    newest = [line for line in lines if not line.recommended][-(limit - len(best)):]
    return [line for line in lines if line in best or line in newest]


class EvalTable(Vertical):
    """Hidden until the run has evaluation rows; ``show`` redraws only when what it shows changed."""

    def __init__(self, narrow_below: int, short_below: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.narrow_below = narrow_below
        self.short_below = short_below
        self._shown: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Label("Intent metrics per checkpoint (e evaluates)", classes="pane-title")
        yield Static("", classes="eval-grid")
        yield Static("", classes="eval-notes", markup=False)

    def show(self, view: EvalView | None) -> None:
        narrow, short = self.app.size.width < self.narrow_below, self.app.size.height < self.short_below
        key = (narrow, short, repr(view))
        if key == self._shown:
            return
        self._shown = key
        self.display = view is not None and bool(view.lines)
        if view is None or not view.lines:
            return
        lines = shown_lines(view.lines, SHORT_ROWS if short else TALL_ROWS)
        hidden = len(view.lines) - len(lines)
        self.query_one(".pane-title", Label).update(
            "Intent metrics per checkpoint" + (f" ({hidden} older not shown)" if hidden else " (e evaluates)"))
        grid = self.query_one(".eval-grid", Static)
        grid.update(_grid(lines, narrow))
        grid.tooltip = f"{hidden} older checkpoints are not shown; tuitune eval RUN lists them all." if hidden else None
        notes = self.query_one(".eval-notes", Static)
        notes.update("\n".join(view.notes))
        notes.tooltip = "\n".join(view.notes)  # the whole text when a narrow pane cuts the notes short

    def on_resize(self) -> None:
        shape = (self.app.size.width < self.narrow_below, self.app.size.height < self.short_below)
        if self._shown is not None and self._shown[:2] != shape:
            self._shown = None  # across a breakpoint the next show() redraws in the other shape


def _grid(lines: list[EvalLine], narrow: bool) -> Table:
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False, header_style="bold",
                  expand=False)
    for index, header in enumerate(NARROW_HEADERS if narrow else WIDE_HEADERS):
        table.add_column(header, justify="left" if index == 0 else "right", no_wrap=True)
    digits = 2 if narrow else 3
    for line in lines:
        label = line.checkpoint.removeprefix("step_") if narrow else line.checkpoint
        mark = "✗" if line.failure is not None else "★" if line.recommended else "°" if line.other_settings else " "
        cells: list[str | Text] = [f"{mark}{label}"]
        if line.failure is not None:  # the notes under the table say why
            cells += [Text("–", style="red")] * (len(WIDE_HEADERS) - 1)
        else:
            cells += ["n/a" if v is None else f"{v:.{digits}f}" for v in line.values]
        table.add_row(*cells, style="bold green" if line.recommended else None)
    return table
