"""The user's box over a picture, in its pixels (x1, y1 exclusive): parsed, checked, moved and written as a mask spec.

No torch here: the app moves the box with the keys and the request checks it before anything is queued.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuitune.errors import UserError

GRID = 8  # the box moves and grows by one cell of an 8 x 8 grid over the picture


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def parse(cls, text: str) -> Box:
        """``"x0,y0,x1,y1"`` in pixels; an empty or negative box is one sentence."""
        try:
            x0, y0, x1, y1 = (int(v) for v in text.split(","))
        except ValueError:
            raise UserError(f"mask box {text!r} must be four whole numbers x0,y0,x1,y1 in pixels, "
                            "e.g. box:40,50,60,62.") from None
        if not (0 <= x0 < x1 and 0 <= y0 < y1):
            raise UserError(f"mask box {text!r} is empty or negative; x0 < x1 and y0 < y1 are needed.")
        return cls(x0, y0, x1, y1)

    @classmethod
    def centred(cls, size: int) -> Box:
        """Two by two grid cells in the middle of a ``size`` x ``size`` picture: where Fix mode starts."""
        cell = cell_size(size)
        start = (size // 2 // cell - 1) * cell if size >= 2 * cell else 0
        return cls(start, start, min(size, start + 2 * cell), min(size, start + 2 * cell))

    @classmethod
    def around(cls, x0: int, y0: int, x1: int, y1: int, size: int) -> Box:
        """The smallest box on the grid that holds pixels ``x0..x1-1`` x ``y0..y1-1`` of a ``size`` picture
        (a region found by a heatmap, made a box the keys can move by whole cells)."""
        cell = cell_size(size)
        if not (0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size):
            raise ValueError(f"region {x0},{y0},{x1},{y1} is empty or outside the {size}x{size} picture")
        return cls(x0 // cell * cell, y0 // cell * cell, min(size, -(-x1 // cell) * cell),
                   min(size, -(-y1 // cell) * cell))

    @property
    def spec(self) -> str:
        """The ``mask`` of a fix run: ``box:x0,y0,x1,y1``."""
        return f"box:{self.x0},{self.y0},{self.x1},{self.y1}"

    def label(self, size: int) -> str:
        """In the user's words, first and last pixel: ``box 40,40 → 63,63 of 64×64``."""
        return f"box {self.x0},{self.y0} → {self.x1 - 1},{self.y1 - 1} of {size}×{size}"

    def check_inside(self, size: int) -> None:
        if self.x1 > size or self.y1 > size:
            raise UserError(f"The {self.label(size).removesuffix(f' of {size}×{size}')} reaches past the "
                            f"{size}×{size} picture; keep it inside 0..{size - 1}.")

    def moved(self, dx: int, dy: int, size: int) -> Box:
        """Moved by ``dx``, ``dy`` grid cells, stopping at the picture's edges."""
        cell = cell_size(size)
        shift_x = max(-self.x0, min(size - self.x1, dx * cell))
        shift_y = max(-self.y0, min(size - self.y1, dy * cell))
        return Box(self.x0 + shift_x, self.y0 + shift_y, self.x1 + shift_x, self.y1 + shift_y)

    def resized(self, dw: int, dh: int, size: int) -> Box:
        """Grown (or shrunk) by ``dw``, ``dh`` grid cells at its right and bottom edges; at least one cell, never
        past the picture."""
        cell = cell_size(size)
        x1 = max(self.x0 + min(cell, size - self.x0), min(size, self.x1 + dw * cell))
        y1 = max(self.y0 + min(cell, size - self.y0), min(size, self.y1 + dh * cell))
        return Box(self.x0, self.y0, x1, y1)


def cell_size(size: int) -> int:
    return max(1, size // GRID)
