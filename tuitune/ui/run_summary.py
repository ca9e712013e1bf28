"""What the Train screen shows about one run, computed from its status and metric rows (no widgets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuitune.jobs.rundir import RunDir, RunState

# Metric rows may name the same quantity differently across trainers; first match wins.
LOSS_KEYS = ("loss", "train_loss", "loss/total")
LR_KEYS = ("lr", "learning_rate")
MEMORY_KEYS = ("memory_mb", "mem_mb", "rss_mb", "gpu_memory_mb", "max_memory_mb")
TIME_KEYS = ("time", "t", "wall")


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = row.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass
class RunSummary:
    """Numbers for the progress line and the plots; ``None`` where the run has not said yet."""

    name: str
    state: RunState
    step: int = 0
    total_steps: int | None = None
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    steps_per_second: float | None = None
    memory_mb: float | None = None
    message: str = ""
    checkpoints: list[int] = field(default_factory=list)
    eval_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        if not self.total_steps:
            return 0.0
        return max(0.0, min(1.0, self.step / self.total_steps))

    @property
    def eta_seconds(self) -> float | None:
        if not self.total_steps or not self.steps_per_second or self.state.is_final:
            return None
        return max(0.0, (self.total_steps - self.step) / self.steps_per_second)

    def progress_line(self) -> str:
        parts = [f"{self.state.value}", f"step {self.step}/{self.total_steps or '?'}"]
        if self.steps_per_second is not None:
            parts.append(f"{self.steps_per_second:.2f} steps/s")
        eta = self.eta_seconds
        if eta is not None:
            parts.append("ETA " + format_duration(eta))
        if self.memory_mb is not None:
            parts.append(f"mem {self.memory_mb:.0f} MB")
        if self.losses:
            parts.append(f"loss {self.losses[-1]:.4g}")
        return " · ".join(parts)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@dataclass
class MetricsHistory:
    """Every metric row of one run seen so far, folded in as rows arrive (a poll costs the new rows only)."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    eval_rows: list[dict[str, Any]] = field(default_factory=list)
    timed: list[tuple[float, int]] = field(default_factory=list)
    memory_mb: float | None = None
    last_step: int = 0
    last_rate: float | None = None

    def add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row.get("kind") == "eval" or "keep_fidelity" in row or "delete_absence" in row:
                self.eval_rows.append(row)
                continue
            step = row.get("step")
            if not isinstance(step, int):
                continue
            loss = _first(row, LOSS_KEYS)
            if loss is not None:
                self.steps.append(step)
                self.losses.append(loss)
                lr = _first(row, LR_KEYS)
                self.lrs.append(lr if lr is not None else (self.lrs[-1] if self.lrs else 0.0))
            memory = _first(row, MEMORY_KEYS)
            if memory is not None:
                self.memory_mb = memory
            when = _first(row, TIME_KEYS)
            if when is not None:
                self.timed.append((when, step))
                del self.timed[:-20]  # only the recent window decides the rate
            self.last_step = max(self.last_step, step)
            self.last_rate = _first(row, ("steps_per_second", "it_per_s"))

    def rate(self) -> float | None:
        if self.last_rate is not None:
            return self.last_rate
        if len(self.timed) >= 2:
            # Rate over the most recent rows, so a resumed or slowed run shows its current speed.
            (t0, s0), (t1, s1) = self.timed[0], self.timed[-1]
            if t1 > t0 and s1 > s0:
                return (s1 - s0) / (t1 - t0)
        return None


def summary_of(name: str, state: RunState, status: dict[str, Any], history: MetricsHistory,
               checkpoints: list[int]) -> RunSummary:
    """What to show for a run, from its status, its folded metrics and its complete checkpoints."""
    summary = RunSummary(name=name, state=state)
    summary.total_steps = status.get("total_steps") if isinstance(status.get("total_steps"), int) else None
    summary.message = str(status.get("message") or "")
    summary.steps, summary.losses, summary.lrs = history.steps, history.losses, history.lrs
    summary.eval_rows = history.eval_rows
    summary.memory_mb = history.memory_mb
    summary.step = max(history.last_step, status["step"] if isinstance(status.get("step"), int) else 0)
    summary.steps_per_second = history.rate()
    summary.checkpoints = checkpoints
    return summary


def summarize(run: RunDir, rows: list[dict[str, Any]]) -> RunSummary:
    """Summary of ``run`` given all its metric rows (reads status and checkpoints now)."""
    history = MetricsHistory()
    history.add(rows)
    return summary_of(run.name, run.state(), run.read_status(), history, run.checkpoint_steps())


def latest_samples(run: RunDir) -> tuple[int | None, list]:
    """The newest ``samples/step_N`` folder's step and its PNGs."""
    if not run.samples_dir.is_dir():
        return None, []
    best: int | None = None
    for child in run.samples_dir.iterdir():
        if child.is_dir() and child.name.startswith("step_"):
            try:
                step = int(child.name.removeprefix("step_"))
            except ValueError:
                continue
            if best is None or step > best:
                best = step
    if best is None:
        return None, []
    return best, sorted(run.sample_dir(best).glob("*.png"))
