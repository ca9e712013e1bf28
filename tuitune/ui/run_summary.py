"""What the Train screen shows about one run, computed from its status and metric rows (no widgets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.evaluate.recommend import latest_rows, recommend
from tuitune.evaluate.report import COLUMNS
from tuitune.jobs.rundir import JsonlTail, RunDir, RunState

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
    evaluation: EvalView | None = None  # intent metrics per checkpoint, once an evaluation wrote rows

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
    timed: list[tuple[float, int]] = field(default_factory=list)
    memory_mb: float | None = None
    last_step: int = 0
    last_rate: float | None = None

    def add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
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
               checkpoints: list[int], evaluation: EvalView | None = None) -> RunSummary:
    """What to show for a run, from its status, its folded metrics and its complete checkpoints."""
    summary = RunSummary(name=name, state=state)
    summary.total_steps = status.get("total_steps") if isinstance(status.get("total_steps"), int) else None
    summary.message = str(status.get("message") or "")
    summary.steps, summary.losses, summary.lrs = history.steps, history.losses, history.lrs
    summary.evaluation = evaluation
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


@dataclass
class EvalLine:
    """One checkpoint's newest evaluation: its metric values in ``COLUMNS`` order, or why it failed."""

    checkpoint: str
    values: list[float | None]
    failure: str | None = None
    recommended: bool = False
    other_settings: bool = False  # evaluated with settings other than the newest evaluation's: not compared


@dataclass
class EvalView:
    lines: list[EvalLine]
    notes: list[str]  # why a metric is n/a, why a checkpoint failed, and which checkpoint to use


@dataclass
class EvalHistory:
    """Every row of a training run's eval.jsonl seen so far (``tuitune eval`` and evaluate jobs append there)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(r for r in rows if "checkpoint" in r)

    def view(self) -> EvalView | None:
        """The newest row per checkpoint, with the checkpoint ``tuitune eval`` recommends: the best intent score
        among the rows that share the newest evaluation's settings (other settings draw other samples)."""
        if not self.rows:
            return None
        newest = self.rows[-1].get("settings")
        pick = recommend([r for r in self.rows if r.get("settings") == newest])
        lines: list[EvalLine] = []
        reasons: dict[str, str] = {}
        failures: list[str] = []
        for row in latest_rows(self.rows):
            label = str(row.get("checkpoint"))
            line = EvalLine(label, [], recommended=pick is not None and pick.checkpoint == label,
                            other_settings=row.get("settings") != newest)
            if row.get("status") != "ok":
                line.failure = str(row.get("reason") or "no reason given")
                failures.append(f"✗ {label} failed: {line.failure}")
            else:
                metrics = {m.get("name"): m for m in row.get("metrics", []) if isinstance(m, dict)}
                for name, short in COLUMNS:
                    metric = metrics.get(name, {})
                    value = metric.get("value")
                    line.values.append(float(value) if isinstance(value, int | float) else None)
                    if line.values[-1] is None and metric.get("reason"):
                        reasons.setdefault(short, str(metric["reason"]))
            lines.append(line)
        # The pick first: a narrow pane may cut the notes short.
        notes = [f"★ {pick.reason}"] if pick is not None else []
        if pick is None and any(line.failure is None for line in lines):
            notes.append("No checkpoint can be recommended: none has an intent score.")
        notes += failures + [f"{short}: n/a because {reason}" for short, reason in reasons.items()]
        if any(line.other_settings for line in lines):
            notes.append("° evaluated with other settings than the newest evaluation: not compared")
        return EvalView(lines, notes)


HEAD_BYTES = 256


class EvalFeed:
    """A training run's eval.jsonl, read a few new rows at a time; a file replaced (deleted to evaluate afresh)
    is read again from its start, whether the new one is shorter or not."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tail = JsonlTail(path)
        self.history = EvalHistory()
        self.head = b""  # the file's first bytes when it was first read: a replaced file starts otherwise

    def read(self) -> EvalView | None:
        try:
            with self.path.open("rb") as file:
                head = file.read(HEAD_BYTES)
                size = file.seek(0, 2)
        except FileNotFoundError:
            head, size = b"", 0
        # A new file may reuse the old one's inode and be longer, so its first bytes are what tell.
        replaced = bool(self.head) and head[:len(self.head)] != self.head[:len(head)]
        if replaced or size < self.tail.offset:
            self.tail, self.history = JsonlTail(self.path), EvalHistory()
        self.head = head
        self.history.add(self.tail.read_new())
        return self.history.view()


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
