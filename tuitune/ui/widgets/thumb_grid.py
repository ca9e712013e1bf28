"""A virtualised grid of half-cell thumbnails: only the rows on screen are drawn, thumbnails load in a thread.

Ten thousand items cost ten thousand small records, not ten thousand widgets: each visible line is built
from cached per-thumbnail strips (an LRU), and missing thumbnails are decoded by one worker at a time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

CELL_WIDTH = 16  # 14 image columns + 2 gap
IMAGE_WIDTH = 14
IMAGE_ROWS = 6  # 12 pixels tall with half cells
CELL_HEIGHT = IMAGE_ROWS + 1  # + the label line
CACHE_SIZE = 600
CHECK_BATCH = 250  # pictures checked between two progress reports
LINE_CACHE_SIZE = 2000  # finished grid lines: a few screenfuls either way of the cursor


@dataclass
class GridEntry:
    path: Path
    label: str
    badge: str = ""  # a short mark shown before the label ("✓", "2m"...)


class ThumbGrid(ScrollView, can_focus=True):
    """Arrow keys move the cursor; Enter selects. Posts ``Highlighted`` with the item index."""

    BINDINGS = [
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        def __init__(self, grid: ThumbGrid, index: int) -> None:
            super().__init__()
            self.grid = grid
            self.index = index

    class Unreadable(Message):
        """A thumbnail could not be decoded; ``grid.unreadable`` names every such file and why."""

    class Checked(Message):
        """``check_pictures`` got further (``grid.checked`` of ``grid.checking``) or, when ``done``, finished."""

        def __init__(self, done: bool) -> None:
            super().__init__()
            self.done = done

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[GridEntry] = []
        self._cache: OrderedDict[Path, list[list[Segment]] | None] = OrderedDict()
        self._wanted: dict[Path, None] = {}
        self.unreadable: dict[Path, str] = {}
        self.loads = 0  # thumbnails decoded so far (for tests and the benchmark)
        self.checking = 0  # pictures ``check_pictures`` is trying; 0 when it is not running
        self.checked = 0  # of those, how many were tried so far
        self._check_request = 0
        self._verified: dict[Path, tuple[int, int]] = {}  # path -> (mtime_ns, size) of a picture that read well
        # The content region is costly to work out and was asked for on every drawn line: kept per size.
        self._layout_key: tuple[int, bool] | None = None
        self._width = 0
        self._columns = 1
        # Finished lines keyed by (grid row, line in the cell, highlighted column or -1): scrolling back and
        # forth or moving the cursor redraws a line from here instead of joining ~56 coloured segments.
        self._lines: OrderedDict[tuple[int, int, int], Strip] = OrderedDict()

    # --- data ----------------------------------------------------------------------------------------
    def set_entries(self, entries: list[GridEntry], cursor: int = 0) -> None:
        self.entries = entries
        self._lines.clear()
        self._update_virtual_size()
        self.cursor = max(0, min(cursor, len(entries) - 1))
        self.refresh()

    def redraw_entries(self) -> None:
        """Entries were changed in place (a badge): draw their lines again."""
        self._lines.clear()
        self.refresh()

    @property
    def columns(self) -> int:
        self._measure()
        return self._columns

    def _measure(self) -> None:
        # Keyed on the outer size (a stored value): ``size`` works the content region out on every call,
        # and this runs for every drawn line and every cell row a thumbnail lands in.
        key = (self.outer_size.width, self.show_vertical_scrollbar)
        if key != self._layout_key:
            self._layout_key = key
            self._lines.clear()
            self._width = self.scrollable_content_region.width
            self._columns = max(1, self._width // CELL_WIDTH)

    def _update_virtual_size(self) -> None:
        rows = (len(self.entries) + self.columns - 1) // self.columns
        self.virtual_size = Size(self.columns * CELL_WIDTH, rows * CELL_HEIGHT)

    def on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._scroll_cursor_into_view()

    @property
    def pending(self) -> int:
        return len(self._wanted)

    # --- cursor --------------------------------------------------------------------------------------
    def watch_cursor(self, old: int, new: int) -> None:
        scrolled = self.scroll_offset.y
        self._scroll_cursor_into_view()
        if self.scroll_offset.y != scrolled:
            self._forget_hidden_wanted()
            self.refresh()
        else:
            # Only the two labels whose highlight changed are drawn again, not every thumbnail on screen.
            for index in {old, new}:
                self.refresh_lines((index // self.columns) * CELL_HEIGHT + IMAGE_ROWS)
        if self.entries:
            self.post_message(self.Highlighted(self, new))

    def _scroll_cursor_into_view(self) -> None:
        if not self.entries:
            return
        row = self.cursor // self.columns
        self.scroll_to_region(Region(0, row * CELL_HEIGHT, CELL_WIDTH, CELL_HEIGHT), animate=False, immediate=True)

    def action_move(self, dx: int, dy: int) -> None:
        if self.entries:
            target = self.cursor + dx + dy * self.columns
            self.cursor = max(0, min(len(self.entries) - 1, target))

    def action_page(self, direction: int) -> None:
        rows = max(1, self.scrollable_content_region.height // CELL_HEIGHT)
        self.action_move(0, direction * rows)

    def action_jump(self, index: int) -> None:
        if self.entries:
            self.cursor = index % len(self.entries)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        col = offset.x // CELL_WIDTH
        row = (offset.y + int(self.scroll_offset.y)) // CELL_HEIGHT
        index = row * self.columns + col
        if col < self.columns and index < len(self.entries):
            self.cursor = index

    # --- drawing -------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        self._measure()
        width = self._width
        absolute = y + int(self.scroll_offset.y)
        row, line = divmod(absolute, CELL_HEIGHT)
        first = row * self.columns
        highlighted = self.cursor - first if first <= self.cursor < first + self.columns else -1
        key = (row, line, highlighted if line == IMAGE_ROWS else -1)
        strip = self._lines.get(key)
        if strip is not None:
            self._lines.move_to_end(key)
            return strip
        segments: list[Segment] = []
        complete = True
        for col in range(self.columns):
            index = row * self.columns + col
            if index >= len(self.entries):
                break
            cell = self._cell_line(index, line)
            complete = complete and cell is not None
            segments.extend(cell if cell is not None else self._placeholder(index, line))
        strip = Strip(segments).extend_cell_length(width).crop(0, width)
        if complete:  # a line still waiting for a thumbnail is drawn again when it arrives
            self._lines[key] = strip
            while len(self._lines) > LINE_CACHE_SIZE:
                self._lines.popitem(last=False)
        return strip

    def _cell_line(self, index: int, line: int) -> list[Segment] | None:
        """One line of one cell, or None while its thumbnail is still being decoded."""
        entry = self.entries[index]
        gap = Segment("  ")
        if line == IMAGE_ROWS:
            style = Style(reverse=True, bold=True) if index == self.cursor else Style(dim=False)
            text = (entry.badge + " " if entry.badge else "") + entry.label
            return [Segment(text[:IMAGE_WIDTH].ljust(IMAGE_WIDTH), style), gap]
        lines = self._thumbnail(entry.path)
        if lines is None:
            if entry.path in self.unreadable:
                label = "✗ unreadable" if line == IMAGE_ROWS // 2 else ""
                return [Segment(label.center(IMAGE_WIDTH), Style(color="red")), gap]
            return None
        return [*lines[line], gap]

    @staticmethod
    def _placeholder(index: int, line: int) -> list[Segment]:
        return [Segment(("…" if line == IMAGE_ROWS // 2 else "").center(IMAGE_WIDTH)), Segment("  ")]

    def _thumbnail(self, path: Path) -> list[list[Segment]] | None:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        if path not in self.unreadable and path not in self._wanted:
            self._wanted[path] = None
            self.call_after_refresh(self._load_wanted)
        return None

    @work(thread=True, exclusive=True, group="thumb-grid")
    def _load_wanted(self) -> None:
        while self._wanted:
            path = next(iter(list(self._wanted)))
            try:
                lines, error = half_cell_lines(path, IMAGE_WIDTH, IMAGE_ROWS), None
            except Exception as exc:  # any decode failure is the file's problem, shown as a placeholder
                lines, error = None, f"{exc.__class__.__name__}: {exc}"
            self.app.call_from_thread(self._store, path, lines, error)

    def check_pictures(self, paths: list[Path]) -> None:
        """Try to open every picture once, in a thread, so ``unreadable`` lists them all, not only those shown.

        A header and structure check (PIL ``verify``), far cheaper than decoding a thumbnail.
        """
        self._check_request += 1
        self.checking, self.checked = len(paths), 0
        if paths:
            self._check(self._check_request, list(paths))

    @work(thread=True, exclusive=True, group="thumb-check")
    def _check(self, request: int, paths: list[Path]) -> None:
        found: dict[Path, str] = {}
        for n, path in enumerate(paths, 1):
            if request != self._check_request:
                return  # a newer list (the project was reloaded) is being checked instead
            if path not in self.unreadable:
                try:
                    stamp = path.stat()
                    key = (stamp.st_mtime_ns, stamp.st_size)
                    if self._verified.get(path) != key:  # a reload re-reads only files changed since
                        check_picture(path)
                        self._verified[path] = key
                except Exception as exc:  # any failure to open is the file's problem, listed as unreadable
                    found[path] = f"{exc.__class__.__name__}: {exc}"
            if n % CHECK_BATCH == 0 or n == len(paths):
                self.app.call_from_thread(self._checked_batch, request, found, n)
                found = {}
                time.sleep(0.002)  # leave the interface thread the interpreter between batches

    def _checked_batch(self, request: int, found: dict[Path, str], checked: int) -> None:
        if request != self._check_request:
            return
        done = checked >= self.checking
        self.checked = checked
        if done:
            self.checking = 0
        fresh = {path: error for path, error in found.items() if path not in self.unreadable}
        if fresh:
            self.unreadable.update(fresh)
            for path in fresh:
                self._wanted.pop(path, None)
            self._lines.clear()  # their cells now say "unreadable" instead of waiting for a thumbnail
            self.refresh()
            self.post_message(self.Unreadable())
        self.post_message(self.Checked(done))

    def _store(self, path: Path, lines: list[list[Segment]] | None, error: str | None) -> None:
        # Lines waiting for this thumbnail were never cached (see render_line), so a refresh redraws them.
        self._wanted.pop(path, None)
        self.loads += 1
        if error is not None:
            self.unreadable[path] = error
            self.post_message(self.Unreadable())
        else:
            self._cache[path] = lines
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        # Only the cell rows showing this picture are drawn again: a page of new thumbnails arrives one at
        # a time, and redrawing the whole grid for each was most of the cost of a page-down.
        for row in self._visible_rows():
            first = row * self.columns
            if any(entry.path == path for entry in self.entries[first:first + self.columns]):
                self.refresh_lines(row * CELL_HEIGHT, IMAGE_ROWS + 1)

    def _visible_rows(self) -> range:
        top = int(self.scroll_offset.y)
        return range(top // CELL_HEIGHT, (top + self.scrollable_content_region.height) // CELL_HEIGHT + 1)

    def _forget_hidden_wanted(self) -> None:
        """Drop thumbnails asked for by rows scrolled away, so the worker decodes what is on screen first."""
        if not self._wanted:
            return
        rows = self._visible_rows()
        visible = {entry.path for entry in self.entries[rows.start * self.columns:rows.stop * self.columns]}
        self._wanted = {path: None for path in self._wanted if path in visible}


def half_cell_lines(path: Path, width: int, rows: int) -> list[list[Segment]]:
    """``path`` letterboxed into ``width`` x ``rows`` cells, two pixels per cell (upper-half block)."""
    from PIL import Image

    from tuitune.ui.widgets.halfcell import half_cell_rows

    with Image.open(path) as img:
        img.draft("RGB", (width * 4, rows * 8))
        rgb = img.convert("RGB")
    return half_cell_rows(rgb, width, rows, letterbox=True)


def check_picture(path: Path) -> None:
    """Raise if the picture cannot be read. PIL's ``verify`` checks a PNG's chunks but barely looks at a JPEG or
    WebP, so those are decoded, JPEG at an eighth of its size (cheap), which finds a truncated file."""
    from PIL import Image

    with Image.open(path) as img:
        if img.format in ("PNG", "GIF", "TIFF", "BMP"):
            img.verify()
        else:
            img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
