"""Attach to a run: replay its history from files, then follow it live until it ends or you detach."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tuitune.jobs.listing import RunSummary, summarize
from tuitune.jobs.progress import MetricsHistory
from tuitune.jobs.rundir import RunDir, RunState


@dataclass
class RunView:
    """Everything a viewer knows about a run so far; ``update`` reads only what is new."""

    run: RunDir
    status: dict[str, Any] = field(default_factory=dict)
    state: RunState = RunState.QUEUED
    metrics: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    history: MetricsHistory = field(default_factory=MetricsHistory)

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
        self.history.add(new_metrics)
        self.events.extend(new_events)
        self.status, self.state = status, state
        return changed

    def summary(self, now: float | None = None) -> RunSummary:
        """The run's summary as the Train screen shows it: speed, elapsed, ETA, lr, checkpoints, LoRA files."""
        return summarize(self.run, self.history, now)

    @property
    def step(self) -> int:
        return int(self.status.get("step") or 0)

    @property
    def total(self) -> int | None:
        total = self.status.get("total_steps")
        return int(total) if total else None

    @property
    def loss(self) -> float | None:
        return self.history.losses[-1] if self.history.losses else None


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


def render(view: RunView) -> Any:
    """A rich renderable: header, progress bar, then the Train screen's lines (speed, ETA, files), last events."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    summary = view.summary()
    header = Text.assemble((view.run.name, "bold"), "  ", (str(summary.state), _STATE_STYLE.get(summary.state, "")))
    total = summary.total_steps or max(summary.step, 1)
    table = Table.grid(padding=(0, 2))
    table.add_row("progress", summary.progress_line())
    files = summary.files_line()
    if files:
        table.add_row("files", files)
    if view.status.get("message"):
        table.add_row("note", str(view.status["message"]))
    if summary.state is RunState.CRASHED:
        hint = f"resume from step {summary.resume_step}" if summary.resume_step else "no checkpoint: resume starts over"
        table.add_row("crashed", f"the worker is gone; {hint} (`tuitune resume {run_reference(view.run)}`)")
    data = next((e for e in reversed(view.events) if e.get("kind") == "dataset"), None)
    if data is not None and data.get("message"):
        table.add_row("data", str(data["message"]))
    recent = [f"{e.get('kind')}" + (f" step {e['step']}" if "step" in e else "") for e in view.events[-3:]]
    if recent:
        table.add_row("events", ", ".join(recent))
    # In a grid of its own: a bare ProgressBar ends without a newline, and the table went on after it.
    bar = Table.grid()
    bar.add_row(ProgressBar(total=total, completed=min(summary.step, total), width=60))
    return Group(header, bar, table)


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
    detached = False
    try:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            for view in follow(run, interval=interval):
                live.update(render(view))
    except KeyboardInterrupt:
        detached = True
    if not console.is_terminal:
        console.line()  # Live ends a piped view without a newline; the next print needs its own line
    if detached:
        # Plain and on one line, so the command can be copied whole and run from any folder.
        console.print(f"Detached; the run goes on. `tuitune attach {run_reference(run)}` follows it again.",
                      markup=False, highlight=False, soft_wrap=True)
    return view.state if view else run.state()


def run_reference(run: RunDir) -> str:
    """What to type for this run in a later command: its absolute path, which works from any folder (a run
    name works only inside its project)."""
    return str(run.path.resolve())
