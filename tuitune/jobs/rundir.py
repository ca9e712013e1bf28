"""The run-directory protocol: the files a job writes and every other process reads.

Layout of one run directory::

    run.toml          frozen config of the run (written once, before the worker starts)
    status.json       atomic replace; pid, state, step, total_steps, heartbeat, message
    metrics.jsonl     append-only, one JSON object per line (rank 0 only)
    events.jsonl      append-only, one JSON object per line (checkpoint, sample, error, ...)
    control.json      written by anyone who wants the worker to stop / pause / sample now
    samples/step_N/   PNGs made during training
    checkpoints/step_N/  accelerate state + LoRA at step N
    lora.safetensors  the final LoRA

Readers never need the writer to be alive: everything is in these files.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tuitune import atomic

HEARTBEAT_STALE_SECONDS = 30.0
# Step progress reaches status.json at most this often; each write is an fsync, and a fast run takes many steps.
STATUS_INTERVAL_SECONDS = 1.0


class RunState(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    CRASHED = "crashed"  # never written by a worker: derived from a dead pid and a stale heartbeat

    @property
    def is_final(self) -> bool:
        return self in {RunState.FINISHED, RunState.STOPPED, RunState.FAILED, RunState.CRASHED}


class ControlRequest(StrEnum):
    STOP = "stop"  # checkpoint, then exit
    PAUSE = "pause"
    CONTINUE = "continue"
    SAMPLE_NOW = "sample_now"


@dataclass
class JsonlTail:
    """Incremental reader of an append-only JSONL file; a half-written last line is left for later."""

    path: Path
    offset: int = 0
    skipped: int = 0  # lines that were complete but not valid JSON

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        complete = chunk[: end + 1]
        self.offset += len(complete)
        rows: list[dict[str, Any]] = []
        for line in complete.splitlines():
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                self.skipped += 1
                continue
            if isinstance(value, dict):
                rows.append(value)
        return rows


def pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as dead.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


@dataclass
class RunDir:
    """One run's directory. Cheap to construct; every method reads or writes files."""

    path: Path
    _metrics_tail: JsonlTail | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    # --- paths -------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_toml(self) -> Path:
        return self.path / "run.toml"

    @property
    def status_json(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_jsonl(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def events_jsonl(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def control_json(self) -> Path:
        return self.path / "control.json"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def lora_path(self) -> Path:
        return self.path / "lora.safetensors"

    @property
    def log_path(self) -> Path:
        return self.path / "worker.log"

    def create(self) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        self.samples_dir.mkdir(exist_ok=True)
        self.checkpoints_dir.mkdir(exist_ok=True)
        return self

    # --- status ------------------------------------------------------------------------------------
    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json (atomic replace) and stamp the heartbeat."""
        status = self.read_status()
        status.update(fields)
        status["heartbeat"] = time.time()
        if isinstance(status.get("state"), RunState):
            status["state"] = str(status["state"])
        atomic.write_json(self.status_json, status)
        return status

    def read_status(self) -> dict[str, Any]:
        try:
            value = json.loads(self.status_json.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return value if isinstance(value, dict) else {}

    def state(self, now: float | None = None) -> RunState:
        """The state a reader should show: a live state whose worker is gone reads as crashed."""
        status = self.read_status()
        try:
            state = RunState(status.get("state", RunState.QUEUED))
        except ValueError:
            return RunState.CRASHED
        if state.is_final or state is RunState.QUEUED:
            return state
        now = time.time() if now is None else now
        stale = now - float(status.get("heartbeat", 0)) > HEARTBEAT_STALE_SECONDS
        if not pid_alive(status.get("pid")) and (stale or status.get("pid")):
            return RunState.CRASHED
        return state

    # --- metrics and events ------------------------------------------------------------------------
    def append_metric(self, row: dict[str, Any]) -> None:
        _append_jsonl(self.metrics_jsonl, row)

    def append_event(self, kind: str, **fields: Any) -> None:
        _append_jsonl(self.events_jsonl, {"time": time.time(), "kind": kind, **fields})

    def read_metrics(self) -> list[dict[str, Any]]:
        return JsonlTail(self.metrics_jsonl).read_new()

    def read_events(self) -> list[dict[str, Any]]:
        return JsonlTail(self.events_jsonl).read_new()

    def metrics_tail(self) -> JsonlTail:
        return JsonlTail(self.metrics_jsonl)

    def events_tail(self) -> JsonlTail:
        return JsonlTail(self.events_jsonl)

    # --- control -----------------------------------------------------------------------------------
    def request(self, request: ControlRequest) -> None:
        """Ask the worker for something; the worker polls and removes the file when it acts."""
        atomic.write_json(self.control_json, {"request": str(request), "time": time.time()})

    def take_request(self) -> ControlRequest | None:
        """Worker side: read and clear a pending request."""
        try:
            raw = json.loads(self.control_json.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        try:
            self.control_json.unlink()
        except FileNotFoundError:
            pass
        try:
            return ControlRequest(raw.get("request"))
        except ValueError:
            return None

    # --- checkpoints -------------------------------------------------------------------------------
    def checkpoint_steps(self) -> list[int]:
        """Steps of complete checkpoints (a folder is complete once its ``COMPLETE`` marker exists)."""
        steps = []
        if not self.checkpoints_dir.is_dir():
            return steps
        for child in self.checkpoints_dir.iterdir():
            if child.name.startswith("step_") and (child / "COMPLETE").exists():
                try:
                    steps.append(int(child.name.removeprefix("step_")))
                except ValueError:
                    continue
        return sorted(steps)

    def checkpoint_dir(self, step: int) -> Path:
        return self.checkpoints_dir / f"step_{step}"

    def sample_dir(self, step: int) -> Path:
        return self.samples_dir / f"step_{step}"


@dataclass
class PacedStatus:
    """The one writer of a run's status.json: step progress at most once per ``interval``, all else at once.

    ``progress`` keeps what it was given when the last write is too recent; the next write of any kind
    (``write``, ``flush`` or a later ``progress``) carries it, so no field is lost, only delayed. A change of
    ``state`` is never delayed.
    """

    run: RunDir
    interval: float = STATUS_INTERVAL_SECONDS
    clock: Callable[[], float] = time.monotonic
    writes: int = 0  # status.json replacements made through this writer
    _pending: dict[str, Any] = field(default_factory=dict, repr=False)
    _last_write: float | None = field(default=None, repr=False)
    _last_state: str | None = field(default=None, repr=False)

    def write(self, **fields: Any) -> dict[str, Any]:
        """Write now: held progress first, then ``fields`` over it."""
        merged = {**self._pending, **fields}
        self._pending = {}
        status = self.run.write_status(**merged)
        self._last_write = self.clock()
        self._last_state = str(status.get("state", ""))
        self.writes += 1
        return status

    def progress(self, **fields: Any) -> bool:
        """Record progress; True when it was written now, False when it waits for the next write."""
        self._pending.update(fields)
        state = fields.get("state")
        changed = state is not None and str(state) != self._last_state
        due = self._last_write is None or self.clock() - self._last_write >= self.interval
        if changed or due:
            self.write()
            return True
        return False

    def flush(self) -> None:
        """Write held progress, if any (before slow work, so readers see the step it started at)."""
        if self._pending:
            self.write()


def _append_jsonl(path: Path, row: dict[str, Any]) -> None:
    line = json.dumps(row, default=str) + "\n"
    # One write() call on an O_APPEND file keeps concurrent appenders from interleaving lines.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)
