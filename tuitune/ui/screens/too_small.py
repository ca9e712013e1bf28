"""Shown over everything while the terminal is smaller than the app can lay out."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.screen import ModalScreen
from textual.widgets import Static


class TooSmallScreen(ModalScreen[None]):
    def __init__(self, min_width: int, min_height: int) -> None:
        super().__init__()
        self.min_width = min_width
        self.min_height = min_height

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static(
                f"Terminal too small.\nMake it at least {self.min_width}x{self.min_height}\n(ctrl+q quits).",
                id="too-small-message",
            )
