"""A small line plot (loss or learning rate against step), drawn in a thread and shown from a cached text.

plotext takes tens of milliseconds per drawing; done in ``render`` it ran on every repaint, including the
one that shows the Train screen after a key press. Here a drawing happens only when the data or the size
changed, in a worker thread, and ``render`` returns the last finished drawing.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import events, work
from textual.app import RenderResult
from textual_plotext import PlotextPlot

MAX_POINTS = 400  # long series are thinned so a 100k-step run still draws quickly
POINTS_PER_COLUMN = 4  # braille draws two dots per column: more points than this only cost time
# A drawing holds the interpreter for tens of milliseconds; at most one per this many seconds while a run
# streams metrics keeps key presses on every screen from waiting behind it, and the app's CPU low while the
# user only watches (a loss curve's shape changes slowly; the step and loss lines update every poll).
MIN_REDRAW_SECONDS = 5.0


class RunPlot(PlotextPlot):
    DEFAULT_CSS = "RunPlot { height: 1fr; min-height: 6; }"

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self._data: tuple[list[int], list[float], int] = ([], [], 0)
        self._shown: tuple[int, float | None] = (-1, None)
        self._drawn: Text | None = None
        self.drawings = 0  # finished drawings (for tests and the benchmark)
        self._last_draw = float("-inf")
        self._redraw_due = False
        self._series = ""

    def show(self, steps: list[int], values: list[float], series: str = "") -> None:
        """Plot ``values``; a growing ``series`` redraws at most every MIN_REDRAW_SECONDS, a new one at once."""
        key = (len(values), values[-1] if values else None)
        if key == self._shown and series == self._series:
            return  # nothing new: an idle run costs nothing
        if series != self._series:
            self._series = series
            self._last_draw = float("-inf")
        self._shown = key
        # The run's own lists, which only grow: a drawing reads the first ``len(values)`` points as of now.
        self._data = (steps, values, len(values))
        wait = self._last_draw + MIN_REDRAW_SECONDS - time.monotonic()
        if wait <= 0:
            self._redraw()
        elif not self._redraw_due:
            self._redraw_due = True
            self.set_timer(wait, self._redraw)

    def on_resize(self, event: events.Resize) -> None:
        self._redraw()

    def _redraw(self) -> None:
        self._redraw_due = False
        self._last_draw = time.monotonic()
        width, height = self.size
        if width <= 0 or height <= 0:
            return
        theme = self._get_plotext_theme_name(self.app.theme)
        steps, values, count = self._data
        stride = max(1, count // min(MAX_POINTS, POINTS_PER_COLUMN * width))
        self._draw((steps[:count:stride], values[:count:stride]), width, height, theme)

    @work(thread=True, exclusive=True, group="run-plot")
    def _draw(self, data: tuple[list[int], list[float]], width: int, height: int, theme: str) -> None:
        plt = self._plot  # only this one worker at a time touches the figure
        plt.clear_data()
        plt.clear_figure()
        plt.plotsize(width, height)
        plt._set_size(width, height)
        plt.theme(theme)
        plt.title(self.title)
        if data[1]:
            plt.plot(data[0], data[1], marker="braille")
        text = Text.from_ansi(plt.build())
        self.app.call_from_thread(self._finished, text)

    def _finished(self, text: Text) -> None:
        self._drawn = text
        self.drawings += 1
        self.refresh()

    def render(self) -> RenderResult:
        return self._drawn if self._drawn is not None else Text(self.title)
