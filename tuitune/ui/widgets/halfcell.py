"""Pictures drawn with upper-half blocks (two pixels per cell): the thumbnail cells and a picture widget.

This needs nothing from the terminal but 24-bit colour, so when the user picks ``halfcell`` the app never
imports the image-protocol library, whose terminal queries cost a few tenths of a second at start-up.
"""

from __future__ import annotations

from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget


def half_cell_rows(rgb: Image.Image, width: int, rows: int, letterbox: bool) -> list[list[Segment]]:
    """``rgb`` scaled to fit ``width`` x ``rows`` cells; letterboxed in black, or centred on blank cells."""
    picture = rgb.copy()
    picture.thumbnail((max(1, width), max(2, rows * 2)), Image.Resampling.BILINEAR)
    if letterbox:
        canvas = Image.new("RGB", (width, rows * 2), (0, 0, 0))
        canvas.paste(picture, ((width - picture.width) // 2, (rows * 2 - picture.height) // 2))
        picture, left = canvas, 0
    else:
        left = (width - picture.width) // 2
    pixels = picture.load()
    lines: list[list[Segment]] = []
    for row in range(picture.height // 2):
        segments = [Segment(" " * left)] if left else []
        for x in range(picture.width):
            top, bottom = pixels[x, row * 2], pixels[x, row * 2 + 1]
            segments.append(Segment("▀", Style(color=Color.from_rgb(*top[:3]), bgcolor=Color.from_rgb(*bottom[:3]))))
        lines.append(segments)
    return lines


def half_cell_strips(rgb: Image.Image, width: int, height: int) -> list[Strip]:
    """``rgb`` fitted into ``width`` x ``height`` cells as finished lines, blank-padded to ``width``.

    Pure work on the picture, so it runs in the decoding thread and painting only copies the lines.
    """
    return [Strip(segments).extend_cell_length(width) for segments in half_cell_rows(rgb, width, height, False)]


class HalfcellPicture(Widget):
    """An already-decoded picture, rescaled to the widget's size when that changes (or handed in as lines)."""

    DEFAULT_CSS = "HalfcellPicture { width: 1fr; height: 1fr; }"

    def __init__(self, image: Image.Image, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._image = image.convert("RGB")
        self._lines: list[Strip] = []
        self._drawn_for: tuple[int, int] | None = None

    @property
    def image(self) -> Image.Image:
        return self._image

    @image.setter
    def image(self, value: Image.Image) -> None:
        """A new picture in the same space: redrawn, no re-layout (it fills its region whatever its shape)."""
        self._image = value.convert("RGB")
        self._drawn_for = None
        self.refresh()

    def show_lines(self, image: Image.Image, lines: list[Strip], cells: tuple[int, int]) -> None:
        """``image`` already drawn as ``lines`` for ``cells`` (see ``half_cell_strips``); redrawn if resized."""
        self._image = image
        self._lines = lines
        self._drawn_for = cells
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._drawn_for != (width, height):
            self._lines = half_cell_strips(self._image, width, height) if width and height else []
            self._drawn_for = (width, height)
        if y < len(self._lines):
            return self._lines[y]
        return Strip.blank(width)
