"""What a reader shows about runs: one ``RunSummary`` per run directory, read from its files only."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from tuitune.jobs.queue import run_dirs
from tuitune.jobs.rundir import RunDir, RunState


@dataclass(frozen=True)
class RunSummary:
    name: str
    path: Path
    kind: str
    state: RunState
    step: int
    total_steps: int | None
    message: str
    last_loss: float | None
    checkpoint_steps: tuple[int, ...]
    created: float | None
    heartbeat: float | None
    problem: str | None = None  # what is wrong with status.json; the state was then read from the run's files

    @property
    def resume_step(self) -> int | None:
        """The step a resume continues from: the latest checkpoint that is still complete on disk."""
        return self.checkpoint_steps[-1] if self.checkpoint_steps else None

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


def summarize(run: RunDir) -> RunSummary:
    state, problem = run.state_and_problem()
    status = run.read_status()
    rows = run.read_metrics()
    loss = None
    for row in reversed(rows):
        if isinstance(row.get("loss"), int | float):
            loss = float(row["loss"])
            break
    step = status.get("step")
    if step is None:  # a damaged status.json: the metrics tell how far it got
        step = max((r["step"] for r in rows if isinstance(r.get("step"), int)), default=0)
    total = status.get("total_steps")
    return RunSummary(
        name=run.name,
        path=run.path,
        kind=str(status.get("kind") or _kind_in_run_toml(run)),
        state=state,
        step=int(step or 0),
        total_steps=int(total) if total else None,
        message=str(status.get("message") or ""),
        last_loss=loss,
        checkpoint_steps=tuple(run.checkpoint_steps()),
        created=status.get("created"),
        heartbeat=status.get("heartbeat"),
        problem=problem,
    )


def _kind_in_run_toml(run: RunDir) -> str:
    try:
        return str(tomllib.loads(run.run_toml.read_text(encoding="utf-8")).get("job", {}).get("kind", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def list_runs(runs_root: Path) -> list[RunSummary]:
    """Every run under ``runs_root``, oldest first."""
    return [summarize(run) for run in run_dirs(Path(runs_root))]
