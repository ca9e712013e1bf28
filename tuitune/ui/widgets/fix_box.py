"""Fix mode's box: one focusable line that moves and resizes the box with the keys, and the box drawn on a picture.

The box lives in the picture's own pixels and moves by cells of an 8 x 8 grid, so it means the same at any
terminal size; it is drawn into the picture (tint and outline), which works with every image protocol.
"""

from __future__ import annotations

from PIL import Image, ImageDraw
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from tuitune.fix.box import Box
from tuitune.ui.widgets.mask_overlay import OUTLINE_SHARE, TINT_STRENGTH, tint_for

KEYS = "arrows/hjkl move · shift+arrows or +/- resize · enter fixes · esc leaves"


def draw_box(rgb: Image.Image, box: Box) -> Image.Image:
    """A copy of ``rgb`` with ``box`` tinted in a colour that stands out from it and outlined in that colour."""
    mask = Image.new("L", rgb.size, 0)
    mask.paste(255, (box.x0, box.y0, box.x1, box.y1))
    tint = tint_for(rgb, mask)
    shown = Image.composite(Image.blend(rgb, Image.new("RGB", rgb.size, tint), TINT_STRENGTH), rgb, mask)
    width = max(1, round(min(rgb.size) * OUTLINE_SHARE))
    ImageDraw.Draw(shown).rectangle((box.x0, box.y0, box.x1 - 1, box.y1 - 1), outline=tint, width=width)
    return shown


class FixBox(Widget, can_focus=True):
    """The box over a ``picture_size`` square picture and the keys that change it; says where it is in pixels."""

    DEFAULT_CSS = """
    FixBox { height: 1; padding: 0 1; display: none; }
    FixBox:focus { background: $boost; text-style: bold; }
    """
    BINDINGS = [
        Binding("left,h", "move(-1, 0)", "Box left", show=False, id="fix.left", tooltip="Move the box one cell left"),
        Binding("right,l", "move(1, 0)", "Box right", show=False, id="fix.right",
                tooltip="Move the box one cell right"),
        Binding("up,k", "move(0, -1)", "Box up", show=False, id="fix.up", tooltip="Move the box one cell up"),
        Binding("down,j", "move(0, 1)", "Box down", show=False, id="fix.down", tooltip="Move the box one cell down"),
        Binding("shift+right", "grow(1, 0)", "Wider", show=False, id="fix.wider", tooltip="One cell wider"),
        Binding("shift+left", "grow(-1, 0)", "Narrower", show=False, id="fix.narrower", tooltip="One cell narrower"),
        Binding("shift+down", "grow(0, 1)", "Taller", show=False, id="fix.taller", tooltip="One cell taller"),
        Binding("shift+up", "grow(0, -1)", "Shorter", show=False, id="fix.shorter", tooltip="One cell shorter"),
        Binding("plus,equals_sign", "grow(1, 1)", "Bigger", id="fix.bigger", tooltip="One cell wider and taller"),
        Binding("minus", "grow(-1, -1)", "Smaller", id="fix.smaller", tooltip="One cell narrower and shorter"),
        Binding("enter", "confirm", "Queue fix", id="fix.queue",
                tooltip="Queue a fix job for this prompt and seed with the box as its mask"),
        Binding("escape,f", "leave", "Leave Fix mode", id="fix.leave", tooltip="Back to the history"),
    ]

    class Changed(Message):
        """The box moved or changed size (or Fix mode began)."""

        def __init__(self, box: Box, picture_size: int) -> None:
            super().__init__()
            self.box, self.picture_size = box, picture_size

    class Confirmed(Message):
        """The user asked to fix the region inside the box."""

        def __init__(self, box: Box, picture_size: int) -> None:
            super().__init__()
            self.box, self.picture_size = box, picture_size

    class Left(Message):
        """The user left Fix mode."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.box = Box.centred(64)
        self.picture_size = 64

    @property
    def label(self) -> str:
        return self.box.label(self.picture_size)

    def start(self, picture_size: int) -> None:
        """Fix mode begins on a ``picture_size`` square picture: the box starts in its middle."""
        self.picture_size = picture_size
        self.box = Box.centred(picture_size)
        self.refresh()
        self.post_message(self.Changed(self.box, picture_size))

    def place(self, box: Box) -> None:
        """Put the box at ``box`` (a region a heatmap found), as if the keys had moved it there."""
        box.check_inside(self.picture_size)
        self._set(box)

    @property
    def untouched(self) -> bool:
        """The box is where Fix mode started it: the user has not moved or sized it."""
        return self.box == Box.centred(self.picture_size)

    def render(self) -> Text:
        return Text.assemble(("Fix mode ", "bold"), self.label, f"  ·  {KEYS}", no_wrap=True, overflow="ellipsis")

    def action_move(self, dx: int, dy: int) -> None:
        self._set(self.box.moved(dx, dy, self.picture_size))

    def action_grow(self, dw: int, dh: int) -> None:
        self._set(self.box.resized(dw, dh, self.picture_size))

    def action_confirm(self) -> None:
        self.post_message(self.Confirmed(self.box, self.picture_size))

    def action_leave(self) -> None:
        self.post_message(self.Left())

    def _set(self, box: Box) -> None:
        if box != self.box:
            self.box = box
            self.refresh()
            self.post_message(self.Changed(box, self.picture_size))
