"""Run a Textual app with a key-to-paint recorder: per key press, ms from the key event to the next frame written.

Run: python benchmarks/key_trace.py TRACE_FILE tuitune [ARGS...]    (the tuitune CLI in this interpreter)
     python benchmarks/key_trace.py TRACE_FILE SCRIPT.py [ARGS...]  (any script that runs a Textual app)

Used by benchmarks/ui.py; not part of the product. One tab-separated line per key is appended to TRACE_FILE:
``key  total_ms  action_ms``, where total is from the key event's creation (Textual stamps every message with
the monotonic clock when it is made, here in the driver's input thread) to the end of the first frame the app
hands to the driver after the key's action ran, and action is from creation to the end of that action. A key
whose action paints nothing (the cursor already on the last row) is written with total ``-`` when the next key
arrives. Frames are counted when ``App._display`` has queued them for the driver's writer thread; the terminal
itself (tmux here) is measured by the wall figures of benchmarks/ui.py.

Hooks ``App.on_event``, ``App._dispatch_action`` and ``App._display`` (checked against Textual 8.2).
"""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path
from typing import Any, TextIO


class KeyRecorder:
    """The key waiting for its frame, and the file its figures go to."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.key: str | None = None
        self.created = 0.0
        self.acted: float | None = None

    def pressed(self, key: str, created: float) -> None:
        if self.key is not None:
            self._write("-")  # the previous key never painted
        self.key, self.created, self.acted = key, created, None

    def action_done(self) -> None:
        if self.key is not None and self.acted is None:
            self.acted = time.monotonic()

    def frame_written(self) -> None:
        if self.key is not None and self.acted is not None:
            self._write(f"{(time.monotonic() - self.created) * 1000:.2f}")

    def _write(self, total: str) -> None:
        action = f"{(self.acted - self.created) * 1000:.2f}" if self.acted is not None else "-"
        self.out.write(f"{self.key}\t{total}\t{action}\n")
        self.out.flush()
        self.key, self.acted = None, None


def install(recorder: KeyRecorder) -> None:
    from textual import events
    from textual.app import App

    on_event, dispatch_action, display = App.on_event, App._dispatch_action, App._display

    async def traced_on_event(self: App, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            recorder.pressed(event.key, event.time)
        await on_event(self, event)

    async def traced_dispatch_action(self: App, namespace: Any, action_name: str, params: Any) -> bool:
        try:
            return await dispatch_action(self, namespace, action_name, params)
        finally:
            recorder.action_done()

    def traced_display(self: App, screen: Any, renderable: Any) -> None:
        display(self, screen, renderable)
        if renderable is not None and not self._batch_count:
            recorder.frame_written()

    App.on_event = traced_on_event  # type: ignore[method-assign]
    App._dispatch_action = traced_dispatch_action  # type: ignore[method-assign]
    App._display = traced_display  # type: ignore[method-assign]


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    trace, target, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    with trace.open("a", encoding="utf-8") as out:
        install(KeyRecorder(out))
        if target.endswith(".py"):
            sys.argv = [target, *args]
            runpy.run_path(target, run_name="__main__")
            return 0
        from tuitune.cli import main as tuitune_main

        return tuitune_main(args)


if __name__ == "__main__":
    sys.exit(main())
