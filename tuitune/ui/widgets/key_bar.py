"""The bottom line of keys for the current screen, drawn as one line of text (no widget per key).

Textual's Footer rebuilds a widget for every key each time focus moves, which cost more than the rest of a
screen switch; this bar only redraws its single line. A click on a key presses it.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widget import Widget


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

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        text_style = self.get_component_rich_style("key-bar--description")
        disabled_style = self.get_component_rich_style("key-bar--disabled")
        line = Text(no_wrap=True, overflow="crop")
        self._spans = []
        seen: set[str] = set()
        palette = None
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if key == self.app.COMMAND_PALETTE_BINDING and self.app.ENABLE_COMMAND_PALETTE:
                palette = (key, active)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            start = line.cell_len
            shown = self.app.get_key_display(binding)
            if active.enabled:
                line.append(f" {shown} ", key_style)
                line.append(f"{binding.description} ", text_style)
            else:
                line.append(f" {shown} {binding.description} ", disabled_style)
            self._spans.append((start, line.cell_len, binding.key.split(",")[0]))
        if palette is not None:
            # The palette lists every action, so it stays visible; keys that do not fit are cut instead.
            key, active = palette
            tail = Text.assemble((f" {self.app.get_key_display(active.binding)} ", key_style),
                                 (f"{active.binding.description or 'palette'} ", text_style))
            room = self.size.width - tail.cell_len
            if room > 0:
                line.truncate(room, pad=True)
                self._spans = [span for span in self._spans if span[1] <= room]
                self._spans.append((room, room + tail.cell_len, key))
                line.append_text(tail)
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
