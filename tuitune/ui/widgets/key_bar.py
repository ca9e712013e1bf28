"""The bottom line of keys for the current screen, drawn as one line of text (no widget per key).

Textual's Footer rebuilds a widget for every key each time focus moves, which cost more than the rest of a
screen switch; this bar only redraws its single line. A click on a key presses it.

A key is shown whole or not at all: when the line is too short for every key, the screen-switching keys
become one "1-5 Screens" entry, and keys that still do not fit are left out (F1 and the palette list them).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.widget import Widget

NAV_PREFIX = "screen."  # binding ids of the keys that switch screens (the app's 1-5)
FIRST = "app.help"  # given room before the screen's own keys: F1 lists every key the bar leaves out


@dataclass(frozen=True)
class Entry:
    """One key as the bar draws it: `` key description ``; ``press`` is the key a click sends (None: none)."""

    shown: str
    description: str
    press: str | None
    enabled: bool = True
    ident: str = ""  # the binding's id

    @property
    def width(self) -> int:
        return Text(f" {self.shown} {self.description} ").cell_len


def fit(entries: list[Entry], nav: list[Entry], room: int) -> list[Entry]:
    """The entries to draw in ``room`` cells, in their order: each of ``entries`` that fits (Help's room is
    kept first), then the screen keys ``nav``: all, else one entry for them when that fits."""
    order = sorted(range(len(entries)), key=lambda i: entries[i].ident != FIRST)
    picked: set[int] = set()
    used = 0
    for index in order:
        if used + entries[index].width <= room:
            picked.add(index)
            used += entries[index].width
    chosen = [entry for index, entry in enumerate(entries) if index in picked]
    if nav:
        if used + sum(e.width for e in nav) <= room:
            chosen += nav
        else:
            merged = Entry(f"{nav[0].shown}-{nav[-1].shown}" if len(nav) > 1 else nav[0].shown, "Screens", None)
            if used + merged.width <= room:
                chosen.append(merged)
    return chosen


class KeyBar(Widget):
    """Shows each shown binding of the screen as ``key description``; greyed when the binding is disabled."""

    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--disabled"}
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $footer-background; color: $footer-foreground; }
    KeyBar > .key-bar--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
    KeyBar > .key-bar--description { color: $footer-description-foreground; }
    KeyBar > .key-bar--disabled { color: $text-disabled; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, str]] = []  # (start, end, key) of each drawn binding

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def _bindings_changed(self, screen: object) -> None:
        self.refresh()

    def _entries(self) -> tuple[list[Entry], list[Entry], Entry | None]:
        """(the screen's keys then the app's, the screen-switching keys, the palette key) of the active bindings."""
        own: list[Entry] = []
        app_wide: list[Entry] = []
        nav: list[Entry] = []
        palette = None
        seen: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if key == self.app.COMMAND_PALETTE_BINDING and self.app.ENABLE_COMMAND_PALETTE:
                palette = Entry(self.app.get_key_display(binding), binding.description or "palette", key)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            entry = Entry(self.app.get_key_display(binding), binding.description, binding.key.split(",")[0],
                          active.enabled, binding.id or "")
            if active.node is not self.app:
                own.append(entry)
            elif entry.ident.startswith(NAV_PREFIX):
                nav.append(entry)
            else:
                app_wide.append(entry)
        app_wide.sort(key=lambda e: e.ident != FIRST)  # Help before Quit
        return own + app_wide, nav, palette

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        text_style = self.get_component_rich_style("key-bar--description")
        disabled_style = self.get_component_rich_style("key-bar--disabled")
        entries, nav, palette = self._entries()
        # The palette lists every action, so it always keeps its place at the right end.
        room = self.size.width - (palette.width if palette is not None else 0)
        line = Text(no_wrap=True, overflow="crop")
        self._spans = []
        for entry in fit(entries, nav, room):
            start = line.cell_len
            if entry.enabled:
                line.append(f" {entry.shown} ", key_style)
                line.append(f"{entry.description} ", text_style)
            else:
                line.append(f" {entry.shown} {entry.description} ", disabled_style)
            if entry.press is not None:
                self._spans.append((start, line.cell_len, entry.press))
        if palette is not None and room > 0:
            line.pad_right(room - line.cell_len)
            self._spans.append((room, room + palette.width, palette.press or ""))
            line.append(f" {palette.shown} ", key_style)
            line.append(f"{palette.description} ", text_style)
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
