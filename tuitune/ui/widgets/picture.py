"""One image shown with the chosen terminal protocol; an unreadable file becomes a labelled placeholder."""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

from PIL import Image as PILImage
from textual import work
from textual.app import ComposeResult
from textual.containers import Container
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

REPEAT_SECONDS = 0.08  # a show() this soon after the last one is a held or repeated key
SETTLE_SECONDS = 0.06  # while keys repeat, the picture is decoded once they pause this long
CACHE_SIZE = 24  # decoded pictures kept per Picture: moving back and forth shows them at once


def image_widget_class(protocol: str) -> type:
    """The widget for ``protocol``; "auto" is what the terminal answered at start-up (textual-image)."""
    if protocol == "halfcell":
        from tuitune.ui.widgets.halfcell import HalfcellPicture

        return HalfcellPicture
    from textual_image import widget as tiw

    return {
        "kitty": tiw.TGPImage,
        "sixel": tiw.SixelImage,
        "halfcell": tiw.HalfcellImage,
        "unicode": tiw.UnicodeImage,
    }.get(protocol, tiw.Image)


def load_rgb(path: Path, overlay: Path | None = None) -> PILImage.Image:
    """The image as RGB; with ``overlay`` (a white-on-black mask) the masked part is tinted and outlined in a
    colour that stands out from it."""
    with PILImage.open(path) as img:
        rgb = img.convert("RGB")
    if overlay is not None:
        from tuitune.ui.widgets.mask_overlay import draw_mask

        with PILImage.open(overlay) as mask_file:
            rgb = draw_mask(rgb, mask_file)
    return rgb


class Picture(Container):
    """Shows ``path`` (optionally with a mask overlay); says why when it cannot.

    The image widget is made once and handed each new picture: remounting it on every cursor move re-laid-out
    the whole screen, the biggest cost of a key press on the Dataset screen. With the half-cell protocol the
    picture is also turned into terminal lines in the decoding thread, so painting it is only copying lines.
    """

    DEFAULT_CSS = """
    Picture { height: 1fr; width: 1fr; }
    Picture > .picture-image { width: auto; height: 1fr; }
    Picture > .picture-missing { color: $text-muted; }
    """

    def __init__(self, protocol: str = "auto", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.protocol = protocol
        self.path: Path | None = None
        self.error: str | None = None
        self.message: str | None = "no image"  # what is shown instead of a picture; None while one is shown
        self.shown_image: PILImage.Image | None = None  # the picture on screen (overlay and regions drawn in)
        self.caption = ""
        self.pending = False  # a picture is being decoded (or waits for repeated keys to pause)
        self.decodes = 0  # pictures decoded so far (tests and the benchmark count them)
        self._request = 0
        self._image: Widget | None = None
        self._last_show = 0.0
        self._settle: Timer | None = None
        # (path, mtime, overlay, overlay mtime, cell size) -> (picture, its half-cell lines or None)
        self._decoded_cache: OrderedDict[tuple, tuple[PILImage.Image, list[Strip] | None]] = OrderedDict()

    def compose(self) -> ComposeResult:
        yield Static("no image", classes="picture-missing")
        caption = Static("", classes="picture-caption")
        caption.display = False
        yield caption

    def show(self, path: Path | None, overlay: Path | None = None, caption: str = "") -> None:
        """Show ``path``; the file is decoded in a thread, so a big picture never stalls the keys.

        Calls in quick succession (a held arrow key) decode only the last one, once they pause: the newest
        request always wins, so the picture ends on the last path asked for, never an older one.
        """
        self.path = path
        self.error = None
        self._request += 1
        if self._settle is not None:
            self._settle.stop()
            self._settle = None
        now = time.monotonic()
        repeated, self._last_show = now - self._last_show < REPEAT_SECONDS, now
        if path is None:
            self.pending = False
            self._show_message(caption or "no image")
            return
        key = self._cache_key(path, overlay)
        hit = self._decoded_cache.get(key) if key is not None else None
        if hit is not None:
            self._decoded_cache.move_to_end(key)
            self.pending = False
            self._show_rgb(hit[0], caption, hit[1], key[-1])
            return
        self.pending = True
        request = self._request
        if repeated:
            self._settle = self.set_timer(
                SETTLE_SECONDS, lambda: self._decode(request, path, overlay, caption, key), name="picture-settle")
        else:
            self._decode(request, path, overlay, caption, key)

    def _cells(self) -> tuple[int, int] | None:
        """The cells the half-cell picture fills now; None when unknown (drawn at paint time then)."""
        if self.protocol != "halfcell" or self._image is None:
            return None
        width, height = self._image.size
        return (width, height) if width and height else None

    def _cache_key(self, path: Path, overlay: Path | None) -> tuple | None:
        try:
            stamp = path.stat().st_mtime_ns
            overlay_stamp = overlay.stat().st_mtime_ns if overlay is not None else 0
        except OSError:
            return None  # decoded (and its error shown) as usual; never cached
        return (path, stamp, overlay, overlay_stamp, self._cells())

    @work(thread=True, exclusive=True, group="picture-decode")
    def _decode(self, request: int, path: Path, overlay: Path | None, caption: str, key: tuple | None) -> None:
        if request != self._request:
            return  # asked for again since: the newer request decodes instead
        lines = None
        try:
            rgb, error = load_rgb(path, overlay), None
            cells = key[-1] if key is not None else None
            if cells is not None:
                from tuitune.ui.widgets.halfcell import half_cell_strips

                lines = half_cell_strips(rgb, *cells)
        except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
            rgb, error = None, f"cannot read {path.name}: {exc.__class__.__name__}"
        self.app.call_from_thread(self._decoded, request, rgb, lines, error, caption, key)

    def _decoded(self, request: int, rgb: PILImage.Image | None, lines: list[Strip] | None, error: str | None,
                 caption: str, key: tuple | None) -> None:
        self.decodes += 1
        if rgb is not None and key is not None:
            self._decoded_cache[key] = (rgb, lines)
            while len(self._decoded_cache) > CACHE_SIZE:
                self._decoded_cache.popitem(last=False)
        if request != self._request or not self.is_attached:
            return  # the user moved on; a newer picture is on its way
        self.pending = False
        if rgb is None:
            self.error = error
            self._show_message(f"✗ {error}")
            return
        self._show_rgb(rgb, caption, lines, key[-1] if key is not None else None)

    def show_image(self, rgb: PILImage.Image, caption: str = "") -> None:
        """Show an already-decoded picture (e.g. with regions drawn on it)."""
        self._request += 1
        self.pending = False
        self._show_rgb(rgb, caption)

    def _show_message(self, text: str) -> None:
        self.message = text
        self.shown_image = None
        missing = self.query_one(".picture-missing", Static)
        missing.update(text)
        missing.display = True
        if self._image is not None:
            self._image.display = False
        self._set_caption("")

    def _show_rgb(self, rgb: PILImage.Image, caption: str, lines: list[Strip] | None = None,
                  cells: tuple[int, int] | None = None) -> None:
        self.message = None
        self.shown_image = rgb
        kind = image_widget_class(self.protocol)
        if type(self._image) is kind:
            if lines is not None and cells is not None and hasattr(self._image, "show_lines"):
                self._image.show_lines(rgb, lines, cells)  # type: ignore[union-attr]
            else:
                self._image.image = rgb  # type: ignore[union-attr]
            if not self._image.display:  # type: ignore[union-attr]
                self._image.display = True  # type: ignore[union-attr]
        else:
            if self._image is not None:
                self._image.remove()
            self._image = kind(rgb, classes="picture-image")
            self.mount(self._image, before=self.query_one(".picture-caption"))
        missing = self.query_one(".picture-missing", Static)
        if missing.display:
            missing.display = False
        self._set_caption(caption)

    def _set_caption(self, text: str) -> None:
        if text == self.caption:
            return
        self.caption = text
        label = self.query_one(".picture-caption", Static)
        if text:
            label.update(text, layout=False)  # one line tall (app stylesheet): only the text changes
        label.display = bool(text)


def draw_regions(rgb: PILImage.Image, boxes: list[tuple[int, tuple[float, float, float, float]]]) -> PILImage.Image:
    """A copy of ``rgb`` with each numbered box outlined and its number written in its corner."""
    from PIL import ImageDraw

    out = rgb.copy()
    draw = ImageDraw.Draw(out)
    stroke = max(1, min(out.size) // 64)
    palette = [(255, 220, 0), (0, 220, 255), (255, 80, 200), (120, 255, 80)]
    for number, (x0, y0, x1, y1) in boxes:
        colour = palette[(number - 1) % len(palette)]
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=stroke)
        label = f"[{number}]"
        draw.rectangle((x0, y0, x0 + 7 * len(label), y0 + 12), fill=(0, 0, 0))
        draw.text((x0 + 1, y0), label, fill=colour)
    return out
