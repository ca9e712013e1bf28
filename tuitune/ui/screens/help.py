"""F1: every key of the screen underneath, with what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,f1,q", "dismiss", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.rows: list[tuple[str, str, str]] = []
        seen: set[tuple[str, str]] = set()
        # The screen's and the app's own keys first; the focused widget's (cursor moves, paging) after them.
        ordered = sorted(under.active_bindings.items(),
                         key=lambda item: not (item[1].node is under or item[1].node is self.app))
        for key, active in ordered:
            binding = active.binding
            if not binding.description:
                continue
            ident = (binding.action, binding.description)
            shown = self.app.get_key_display(binding) if key else key
            if ident in seen:
                continue
            seen.add(ident)
            self.rows.append((shown, binding.description, binding.tooltip or ""))

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("Keys  (ctrl+p: command palette with every action; esc closes)", id="help-title")
            table: DataTable = DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            table.add_columns("Key", "Action", "What it does")
            for row in self.rows:
                table.add_row(*row)
            yield table
