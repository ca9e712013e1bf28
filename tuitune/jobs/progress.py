"""How fast a run goes and when it ends, from the times its files carry (metric rows and status.json).

The trainer's ``s_per_step`` times the step alone; samples and checkpoints are made between steps and start-up
before the first one. So speed here is the wall rate: seconds between the first and the newest metric row of the
current attempt (rows written since status.json's ``started``) over the steps between them, which counts every
sample and checkpoint made meanwhile. Elapsed counts from ``started`` (start-up included) to ``ended`` or now;
the ETA is the steps left at the wall rate. Images per second are the images of one step at the wall rate.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

# Metric rows may name the same quantity differently across jobs; first match wins.
LOSS_KEYS = ("loss", "train_loss", "loss/total")
LR_KEYS = ("lr", "learning_rate")
MEMORY_KEYS = ("memory_mb", "mem_mb", "rss_mb", "gpu_memory_mb", "max_memory_mb")
TIME_KEYS = ("time", "t", "wall")


def number(row: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = row.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass
class MetricsHistory:
    """Every metric row of one run seen so far, folded in as rows arrive (a poll costs the new rows only)."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # the rows' timestamps, in file order
    timed_steps: list[int] = field(default_factory=list)  # the step of each of ``times``
    memory_mb: float | None = None
    lr: float | None = None
    images_per_step: float | None = None
    last_step: int = 0

    def add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            step = row.get("step")
            if not isinstance(step, int) or isinstance(step, bool):
                continue
            loss = number(row, LOSS_KEYS)
            lr = number(row, LR_KEYS)
            if lr is not None:
                self.lr = lr
            if loss is not None:
                self.steps.append(step)
                self.losses.append(loss)
                self.lrs.append(lr if lr is not None else (self.lrs[-1] if self.lrs else 0.0))
            memory = number(row, MEMORY_KEYS)
            if memory is not None:
                self.memory_mb = memory
            when = number(row, TIME_KEYS)
            if when is not None and (not self.times or when >= self.times[-1]):
                self.times.append(when)
                self.timed_steps.append(step)
            per_second, step_seconds = number(row, ("images_per_s",)), number(row, ("s_per_step",))
            if per_second is not None and step_seconds is not None:
                self.images_per_step = per_second * step_seconds
            self.last_step = max(self.last_step, step)

    def wall_seconds_per_step(self, since: float | None = None) -> float | None:
        """Wall seconds per step between the first row written at or after ``since`` and the newest row."""
        first = bisect.bisect_left(self.times, since) if since is not None else 0
        if len(self.times) - first < 2:
            return None
        seconds = self.times[-1] - self.times[first]
        steps = self.timed_steps[-1] - self.timed_steps[first]
        return seconds / steps if seconds > 0 and steps > 0 else None


@dataclass(frozen=True)
class Speed:
    """A run's wall speed and times; ``None`` where its files do not tell yet."""

    seconds_per_step: float | None = None
    images_per_second: float | None = None
    elapsed: float | None = None
    eta: float | None = None

    @property
    def steps_per_second(self) -> float | None:
        return 1.0 / self.seconds_per_step if self.seconds_per_step else None


def speed_of(history: MetricsHistory, status: dict[str, Any], step: int, total: int | None, final: bool,
             now: float) -> Speed:
    """The wall speed, elapsed time and ETA of a run (see the module docstring)."""
    started = _time(status, "started")
    rate = history.wall_seconds_per_step(started)
    end = (_time(status, "ended") or _time(status, "heartbeat")) if final else now
    elapsed = end - started if started is not None and end is not None and end >= started else None
    if rate is None and elapsed and step and not history.times:
        rate = elapsed / step  # rows without timestamps: the whole attempt's average, start-up included
    images = history.images_per_step / rate if rate and history.images_per_step else None
    eta = max(0.0, (total - step) * rate) if rate and total and not final else None
    return Speed(rate, images, elapsed, eta)


def _time(status: dict[str, Any], key: str) -> float | None:
    value = status.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
