"""What a training run's eval.jsonl says: the newest row per checkpoint, and the checkpoint to use (★)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.evaluate.recommend import latest_rows, recommend
from tuitune.evaluate.report import COLUMNS
from tuitune.jobs.rundir import JsonlTail, RunDir


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


def recommended_lora(run: RunDir) -> tuple[str, Path] | None:
    """The label and LoRA of the checkpoint the run's evaluation recommends (★), when it is still on disk."""
    from tuitune.evaluate.queue_job import EVAL_FILE

    view = EvalFeed(run.path / EVAL_FILE).read()
    label = next((line.checkpoint for line in view.lines if line.recommended), None) if view else None
    if label == "final":
        path = run.lora_path
    elif label is not None and label.startswith("step_") and label.removeprefix("step_").isdigit():
        path = run.checkpoint_dir(int(label.removeprefix("step_")))
    else:
        return None
    return (label, path) if path.exists() else None
