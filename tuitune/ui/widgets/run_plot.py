"""A small line plot (loss or learning rate against step) redrawn from a RunSummary on each poll."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class RunPlot(PlotextPlot):
    DEFAULT_CSS = "RunPlot { height: 1fr; min-height: 6; }"

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self._shown: tuple[int, float | None] = (-1, None)

    def show(self, steps: list[int], values: list[float]) -> None:
        key = (len(values), values[-1] if values else None)
        if key == self._shown:
            return  # nothing new: skip the redraw so an idle run costs nothing
        self._shown = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        if values:
            # Thin long series so a 100k-step run still draws in a few milliseconds.
            stride = max(1, len(values) // 400)
            plt.plot(steps[::stride], values[::stride], marker="braille")
        self.refresh()
