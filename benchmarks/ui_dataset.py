"""Dataset screen on 10,000 items: key-to-paint moving through the grid and filtering, against an empty app.

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ui_dataset.py [--count 10000] [--folder DIR] [--fresh]

The project (COUNT small PNGs with captions, imported through the project API, masks on every tenth) is made
once in --folder (default: the system temp folder) and reused. Both apps run headless in this process; every
paint also renders the terminal bytes, as a real terminal would need. "key-to-paint" is the time from the key
event to the first paint that shows its effect (the cursor moved, the filter applied); "settled" waits until
the preview and the visible thumbnails are drawn too. The baseline is an empty Textual app whose keys update
one label, measured in the same run with the same keys; ratios are tuitune / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
SIZE = (120, 40)
WARM_UP = ("down", "up")  # pressed first and not counted: the first key pays for code paths run once
GAP_SECONDS = 0.06  # between keys: a fast typist, and time for the previous key's work to finish
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40),
           "purple": (140, 50, 180), "orange": (240, 140, 30)}
SHAPES = ("ring", "square", "disc", "triangle")


def make_project(root: Path, count: int) -> Path:
    """``count`` captioned pictures imported into a new project at ``root``; masks on every tenth item."""
    from tuitune.data.dataset import Dataset
    from tuitune.data.importer import iter_import
    from tuitune.project.project import Project

    source = root.with_name(root.name + "-src")
    source.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    names = list(COLOURS)
    for n in range(count):
        colour, background = rng.sample(names, 2)
        shape = SHAPES[n % len(SHAPES)]
        image = Image.new("RGB", (48, 48), COLOURS[background])
        draw = ImageDraw.Draw(image)
        x, y = rng.randrange(4, 20), rng.randrange(4, 20)
        draw.ellipse((x, y, x + 22, y + 22), fill=COLOURS[colour])
        draw.rectangle((0, 0, n % 48, 1), fill=(n % 251, (n * 7) % 253, 0))  # no two pictures are the same
        image.save(source / f"pic{n:05d}.png")
        (source / f"pic{n:05d}.txt").write_text(f"zxq, a {colour} {shape} on a {background} background",
                                                encoding="utf-8")
    with Project.create(root):
        pass
    started = time.perf_counter()
    for event in iter_import(source, root):
        if event.done % 1000 == 0:
            print(f"  imported {event.done} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    dataset = Dataset(root)
    index: dict[str, Any] = {}
    mask = Image.new("L", (48, 48), 0)
    ImageDraw.Draw(mask).rectangle((30, 40, 47, 47), fill=255)
    for item in dataset.items()[::10]:
        path = dataset.mask_path(item.stem, "watermark")
        path.parent.mkdir(parents=True, exist_ok=True)
        mask.save(path)
        index[item.stem] = {"watermark": {"path": str(path.relative_to(root)),
                                          "instances": [{"box": [30, 40, 47, 47], "score": 0.9, "accepted": True}]}}
    dataset.save_masks_index(index)
    (root / "READY").write_text(str(count), encoding="utf-8")
    return root


class PaintClock:
    """Times paints of one app: wraps ``App._display`` to render the update to bytes and note the time."""

    def __init__(self, app, probe: Callable[[], Any]) -> None:
        self.app = app
        self.probe = probe
        self.paints: list[tuple[float, Any]] = []
        original = app._display

        def display(screen, renderable) -> None:
            original(screen, renderable)
            if renderable is not None and not app._batch_count:
                from textual._compositor import CompositorUpdate

                if isinstance(renderable, CompositorUpdate):
                    renderable.render_segments(app.console)
                self.paints.append((time.perf_counter(), self.probe()))

        app._display = display

    async def key_to_paint(self, key: str, settled: Callable[[], bool]) -> tuple[float, float, float]:
        """Seconds to the first paint whose probe differs from before the key, seconds until ``settled``,
        and CPU seconds this process spent meanwhile (all threads: steadier than wall time on a busy machine)."""
        from textual import events

        before = self.probe()
        seen = len(self.paints)
        cpu = time.process_time()
        start = time.perf_counter()
        self.app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
        painted = None
        deadline = start + 30
        while time.perf_counter() < deadline:
            for when, value in self.paints[seen:]:
                if value != before and painted is None:
                    painted = when - start
            seen = len(self.paints)
            if painted is not None and settled():
                break
            await asyncio.sleep(0.001)
        end = time.perf_counter() - start
        return (painted if painted is not None else float("nan")), end, time.process_time() - cpu


def keys_to_press() -> list[tuple[str, str]]:
    """(phase, key): move down and right through the grid, page, jump, then type and clear a filter."""
    keys = [("move", "down")] * 15 + [("move", "right")] * 10 + [("page", "pagedown")] * 5
    keys += [("page", "end"), ("page", "home")]
    keys += [("filter", c) for c in "red ring"] + [("filter", "backspace")] * 8
    return keys


async def measure_tuitune(project: Path, keys: list[tuple[str, str]]) -> dict[str, list[tuple[float, ...]]]:
    from tuitune.ui.app import TuituneApp
    from tuitune.ui.widgets.thumb_grid import ThumbGrid

    app = TuituneApp(project)
    results: dict[str, list[tuple[float, ...]]] = {}
    async with app.run_test(size=SIZE) as pilot:
        opened = time.perf_counter()
        await pilot.press("3")
        screen = app.screen
        while not screen.shown:
            await pilot.pause(0.01)
        print(f"  Dataset screen listed {len(screen.items)} items in {time.perf_counter() - opened:.2f} s",
              file=sys.stderr)
        grid = screen.query_one(ThumbGrid)
        preview = screen.query_one("#dataset-preview")
        filter_box = screen.query_one("#dataset-filter")

        def probe() -> Any:
            return grid.cursor, len(screen.shown), filter_box.value

        def settled() -> bool:
            return not grid.pending and not preview.pending and not getattr(screen, "filtering", False)

        clock = PaintClock(app, probe)
        while not settled():
            await pilot.pause(0.02)
        # Measured once the background work of opening the app is over: the other screens built ahead and
        # every picture checked for the unreadable filter (timed here, reported apart).
        checked = time.perf_counter()
        while getattr(grid, "checking", 0):  # older versions have no check: nothing to wait for
            await pilot.pause(0.02)
        print(f"  every picture checked {time.perf_counter() - checked:.2f} s after the grid settled",
              file=sys.stderr)
        await wait_quiet(pilot)
        for key in WARM_UP:
            await clock.key_to_paint(key, settled)
            await pilot.pause(GAP_SECONDS)
        for phase, key in keys:
            if phase == "filter" and not filter_box.has_focus:
                await pilot.press("slash")
                await pilot.pause(GAP_SECONDS)
            results.setdefault(phase, []).append(await clock.key_to_paint(key, settled))
            await pilot.pause(GAP_SECONDS)
        results["decoded"] = [(float(grid.loads), 0.0, 0.0)]
    return results


async def wait_quiet(pilot, window: float = 0.4, busy_share: float = 0.1, limit: float = 60.0) -> None:
    """Until this process spends under ``busy_share`` of a ``window`` on CPU: the app's start-up work (other
    screens built ahead, their first fill) is over, so it is not counted against the keys."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        cpu = time.process_time()
        await pilot.pause(window)
        if time.process_time() - cpu < busy_share * window:
            return


async def measure_baseline(keys: list[tuple[str, str]]) -> dict[str, list[tuple[float, ...]]]:
    from textual.app import App
    from textual.widgets import Footer, Header, Input, Static

    class Empty(App):
        def compose(self):
            yield Header()
            yield Input(id="box")
            yield Static("0", id="label")
            yield Footer()

        def on_mount(self) -> None:
            self.count = 0
            self.query_one("#label").focus()

        def on_key(self, event) -> None:
            if not self.query_one(Input).has_focus:
                self.count += 1
                self.query_one("#label", Static).update(str(self.count))

    Static.can_focus = True
    app = Empty()
    results: dict[str, list[tuple[float, ...]]] = {}
    async with app.run_test(size=SIZE) as pilot:
        box = app.query_one(Input)
        clock = PaintClock(app, lambda: (app.count, box.value))
        await pilot.pause(0.2)
        for key in WARM_UP:
            await clock.key_to_paint(key, lambda: True)
            await pilot.pause(GAP_SECONDS)
        for phase, key in keys:
            if phase == "filter" and not box.has_focus:
                box.focus()
                await pilot.pause(GAP_SECONDS)
            results.setdefault(phase, []).append(await clock.key_to_paint(key, lambda: True))
            await pilot.pause(GAP_SECONDS)
    Static.can_focus = False
    return results


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "tuitune-bench")
    parser.add_argument("--fresh", action="store_true", help="make the project again")
    args = parser.parse_args()
    os.environ.setdefault("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    project = args.folder / f"dataset-{args.count}"
    if args.fresh or not (project / "READY").is_file():
        import shutil

        shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(project.with_name(project.name + "-src"), ignore_errors=True)
        print(f"making {args.count} pictures in {project} (once)", file=sys.stderr)
        make_project(project, args.count)
    keys = keys_to_press()
    base = asyncio.run(measure_baseline(keys))
    ours = asyncio.run(measure_tuitune(project, keys))
    print(f"Dataset screen, {args.count} items, {len(keys)} keys; milliseconds (ratio = tuitune / empty app)")
    print(f"{'phase':8} {'measure':14} {'empty p50':>9} {'p95':>7} {'tuitune p50':>11} {'p95':>7} "
          f"{'ratio p50':>9} {'ratio p95':>9}")
    for phase in ("move", "page", "filter"):
        for label, pick in (("key-to-paint", 0), ("settled", 1), ("CPU per key", 2)):
            b = [r[pick] * 1000 for r in base[phase]]
            t = [r[pick] * 1000 for r in ours[phase]]
            print(f"{phase:8} {label:14} {statistics.median(b):9.1f} {p95(b):7.1f} {statistics.median(t):11.1f} "
                  f"{p95(t):7.1f} {statistics.median(t) / statistics.median(b):9.1f} {p95(t) / p95(b):9.1f}")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"thumbnails decoded: {int(ours['decoded'][0][0])} of {args.count}")


if __name__ == "__main__":
    main()
