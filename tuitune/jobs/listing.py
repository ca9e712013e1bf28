"""What a reader shows about a run: one ``RunSummary`` per run directory, read from its files only.

The Train screen, ``tuitune attach`` and ``tuitune runs`` all show this one summary; speed and ETA come from
``jobs.progress`` (wall time, so samples and checkpoints count).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tuitune.jobs.progress import MetricsHistory, Speed, format_duration, speed_of
from tuitune.jobs.queue import run_dirs
from tuitune.jobs.rundir import RunDir, RunState

KOHYA_FILE = "lora_kohya.safetensors"  # the final LoRA with kohya key names, beside lora.safetensors
AT_WORK = frozenset({RunState.STARTING, RunState.RUNNING, RunState.PAUSED, RunState.STOPPING})


@dataclass(frozen=True)
class RunSummary:
    """Numbers for lists, the progress lines and the plots; ``None`` where the run has not said yet."""

    name: str
    path: Path
    kind: str
    state: RunState
    step: int
    total_steps: int | None
    message: str = ""
    last_loss: float | None = None
    checkpoint_steps: tuple[int, ...] = ()
    created: float | None = None
    heartbeat: float | None = None
    problem: str | None = None  # what is wrong with status.json; the state was then read from the run's files
    steps: list[int] = field(default_factory=list)  # the plots' series: the step of each loss and lr
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    lr: float | None = None
    memory_mb: float | None = None
    speed: Speed = Speed()
    lora_files: tuple[Path, ...] = ()  # the final LoRA files that exist (lora.safetensors, the kohya copy)
    phase: str = ""  # what a run at work does before its first step ("caching latents 12/48"), else ""

    @property
    def resume_step(self) -> int | None:
        """The step a resume continues from: the latest checkpoint that is still complete on disk."""
        return self.checkpoint_steps[-1] if self.checkpoint_steps else None

    @property
    def fraction(self) -> float:
        if not self.total_steps:
            return 0.0
        return max(0.0, min(1.0, self.step / self.total_steps))

    def describe(self) -> str:
        """One line for lists: state, progress, and what to do when it ended badly."""
        progress = f"step {self.step}" + (f"/{self.total_steps}" if self.total_steps else "")
        text = f"{self.state} at {progress}"
        if self.last_loss is not None:
            text += f", loss {self.last_loss:.4g}"
        if self.state in (RunState.CRASHED, RunState.FAILED, RunState.STOPPED):
            text += (
                f" — resume from step {self.resume_step}"
                if self.resume_step is not None
                else " — no checkpoint, resume starts over"
            )
        if self.state is RunState.CRASHED:
            text += " (the worker is gone)"
        elif self.message and self.state is RunState.FAILED:
            text += f": {self.message}"
        if self.problem:
            text = f"damaged: {self.problem}, so this is read from the run's files: {text}"
        return text

    def progress_line(self) -> str:
        """State, step, ETA, elapsed, wall speed, images/s, loss and memory, joined by dots (the first ones are
        what a narrow pane keeps)."""
        parts = [f"{self.state.value}", f"step {self.step}/{self.total_steps or '?'}"]
        if self.phase:
            parts.append(self.phase)
        speed = self.speed
        if speed.eta is not None:
            parts.append("ETA " + format_duration(speed.eta))
        if speed.elapsed is not None:
            parts.append("elapsed " + format_duration(speed.elapsed))
        if speed.seconds_per_step is not None:
            parts.append(f"{speed.seconds_per_step:.2f} s/step ({speed.steps_per_second:.2f} it/s)")
        if speed.images_per_second is not None:
            parts.append(f"{speed.images_per_second:.2f} img/s")
        if self.last_loss is not None:
            parts.append(f"loss {self.last_loss:.4g}")
        if self.memory_mb is not None:
            parts.append(f"mem {self.memory_mb:.0f} MB")
        return " · ".join(parts)

    def files_line(self) -> str:
        """Where the LoRA files are (or will be), the learning rate and the complete checkpoints."""
        parts = []
        if self.kind == "train":
            where = f"{self.path.parent.name}/{self.name}/"
            if self.lora_files:
                parts.append("LoRA: " + where + ", ".join(p.name for p in self.lora_files))
            elif not self.state.is_final:
                parts.append(f"LoRA at the end: {where}lora.safetensors, {KOHYA_FILE}")
        if self.lr is not None:
            parts.append(f"lr {self.lr:.3g}")
        if self.checkpoint_steps:
            parts.append("checkpoints " + ", ".join(str(s) for s in self.checkpoint_steps))
        return " · ".join(parts)


def summarize(run: RunDir, history: MetricsHistory | None = None, now: float | None = None) -> RunSummary:
    """Summary of ``run`` from its files; ``history`` holds its metric rows read so far (a poll passes the
    one it keeps, so only new rows are read), else every row is read now."""
    state, problem = run.state_and_problem()
    status = run.read_status()
    if history is None:
        history = MetricsHistory()
        history.add(run.read_metrics())
    step = status.get("step")
    if not isinstance(step, int):  # a damaged status.json: the metrics tell how far it got
        step = history.last_step
    step = max(int(step or 0), history.last_step)
    total = status.get("total_steps")
    total = int(total) if isinstance(total, int) and total else None
    speed = speed_of(history, status, step, total, state.is_final, time.time() if now is None else now)
    lora_files = tuple(p for p in (run.lora_path, run.path / KOHYA_FILE) if p.is_file())
    return RunSummary(
        name=run.name,
        path=run.path,
        kind=str(status.get("kind") or _kind_in_run_toml(run)),
        state=state,
        step=step,
        total_steps=total,
        message=str(status.get("message") or ""),
        # A run that ended (or died) while loading or caching is not doing it any more.
        phase=str(status.get("phase") or "") if state in AT_WORK else "",
        last_loss=history.losses[-1] if history.losses else None,
        checkpoint_steps=tuple(run.checkpoint_steps()),
        created=status.get("created"),
        heartbeat=status.get("heartbeat"),
        problem=problem,
        steps=history.steps,
        losses=history.losses,
        lrs=history.lrs,
        lr=history.lr,
        memory_mb=history.memory_mb,
        speed=speed,
        lora_files=lora_files,
    )


def _kind_in_run_toml(run: RunDir) -> str:
    return run.kind()


def list_runs(runs_root: Path) -> list[RunSummary]:
    """Every run under ``runs_root``, oldest first."""
    return [summarize(run) for run in run_dirs(Path(runs_root))]


def live_training_run(runs: Iterable[RunDir]) -> RunDir | None:
    """The first training run in ``runs`` (pass them newest first) whose worker is at work: what a user whose
    SSH link dropped comes back to, whatever they had selected before."""
    for run in runs:
        if run.state() in AT_WORK and (run.read_status().get("kind") or _kind_in_run_toml(run)) == "train":
            return run
    return None


def latest_samples(run: RunDir) -> tuple[int | None, list[Path]]:
    """The newest ``samples/step_N`` folder's step and every PNG in it."""
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
