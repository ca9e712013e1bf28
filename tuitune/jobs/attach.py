"""Attach to a run: replay its history from files, then follow it live until it ends or you detach."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tuitune.jobs.rundir import RunDir, RunState

ETA_WINDOW = 50  # metric rows used for the speed estimate


@dataclass
class RunView:
    """Everything a viewer knows about a run so far; ``update`` reads only what is new."""

    run: RunDir
    status: dict[str, Any] = field(default_factory=dict)
    state: RunState = RunState.QUEUED
    metrics: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._metrics = self.run.metrics_tail()
        self._events = self.run.events_tail()

    def update(self) -> bool:
        """Read new rows and the status; True when anything changed."""
        new_metrics = self._metrics.read_new()
        new_events = self._events.read_new()
        status = self.run.read_status()
        state = self.run.state()
        changed = bool(new_metrics or new_events) or status != self.status or state != self.state
        self.metrics.extend(new_metrics)
        self.events.extend(new_events)
        self.status, self.state = status, state
        return changed

    @property
    def step(self) -> int:
        return int(self.status.get("step") or 0)

    @property
    def total(self) -> int | None:
        total = self.status.get("total_steps")
        return int(total) if total else None

    @property
    def loss(self) -> float | None:
        for row in reversed(self.metrics):
            if isinstance(row.get("loss"), int | float):
                return float(row["loss"])
        return None

    def eta_seconds(self) -> float | None:
        """Seconds left at the recent speed (metrics with step and time), None when unknown."""
        timed = [r for r in self.metrics[-ETA_WINDOW:] if "time" in r and "step" in r]
        if self.total is None or len(timed) < 2:
            return None
        steps = timed[-1]["step"] - timed[0]["step"]
        seconds = timed[-1]["time"] - timed[0]["time"]
        if steps <= 0 or seconds <= 0:
            return None
        return max(0.0, (self.total - self.step) * seconds / steps)


def follow(
    run: RunDir, interval: float = 0.5, sleep: Callable[[float], None] = time.sleep
) -> Iterator[RunView]:
    """Yield the view once with the whole history, then after every change, until the run is final."""
    view = RunView(run)
    view.update()
    yield view
    while not view.state.is_final:
        sleep(interval)
        if view.update():
            yield view
    # Rows written just before the final status.
    if view.update():
        yield view


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render(view: RunView) -> Any:
    """A rich renderable: header, progress bar, loss, ETA, last events."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    header = Text.assemble((view.run.name, "bold"), "  ", (str(view.state), _STATE_STYLE.get(view.state, "")))
    total = view.total or max(view.step, 1)
    table = Table.grid(padding=(0, 2))
    table.add_row("step", f"{view.step}/{view.total or '?'}")
    table.add_row("loss", f"{view.loss:.5g}" if view.loss is not None else "—")
    table.add_row("ETA", format_seconds(view.eta_seconds()) if not view.state.is_final else "—")
    if view.status.get("message"):
        table.add_row("note", str(view.status["message"]))
    if view.state is RunState.CRASHED:
        steps = view.run.checkpoint_steps()
        hint = f"resume from step {steps[-1]}" if steps else "no checkpoint: resume starts over"
        table.add_row("crashed", f"the worker is gone; {hint} (`tuitune resume {view.run.name}`)")
    recent = [f"{e.get('kind')}" + (f" step {e['step']}" if "step" in e else "") for e in view.events[-3:]]
    if recent:
        table.add_row("events", ", ".join(recent))
    return Group(header, ProgressBar(total=total, completed=min(view.step, total), width=60), table)


_STATE_STYLE = {
    RunState.RUNNING: "green",
    RunState.FINISHED: "bold green",
    RunState.PAUSED: "yellow",
    RunState.STOPPING: "yellow",
    RunState.STOPPED: "yellow",
    RunState.FAILED: "bold red",
    RunState.CRASHED: "bold red",
}


def attach(run: RunDir, interval: float = 0.5) -> RunState:
    """Show the run live in this terminal; Ctrl-C detaches and leaves the run going."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    view: RunView | None = None
    try:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            for view in follow(run, interval=interval):
                live.update(render(view))
    except KeyboardInterrupt:
        console.print(f"Detached; the run goes on. `tuitune attach {run.name}` follows it again.")
        return view.state if view else run.state()
    return view.state if view else run.state()
