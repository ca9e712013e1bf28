"""The Train screen's progress bar: Textual's, without its once-a-second ETA upkeep (the run line shows the ETA)."""

from __future__ import annotations

from textual.widgets import ProgressBar


class RunProgress(ProgressBar):
    """A ProgressBar that changes only when the run's step does.

    Textual's bar re-estimates its ETA every second from a timer, even with the ETA hidden; the estimate's change
    repainted the bar a second time after every poll, and went on while the screen was not shown.
    """

    def update(self, **changes) -> None:  # type: ignore[override]
        if changes:  # the timer calls it with nothing to change
            super().update(**changes)
