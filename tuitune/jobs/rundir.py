"""The run-directory protocol: the files a job writes and every other process reads.

Layout of one run directory::

    run.toml          frozen config of the run (written once, before the worker starts)
    status.json       atomic replace; pid, state, step, total_steps, heartbeat, message
    metrics.jsonl     append-only, one JSON object per line (rank 0 only)
    events.jsonl      append-only, one JSON object per line (checkpoint, sample, error, ...)
    control.json      written by anyone who wants the worker to stop / pause / sample now
    samples/step_N/   PNGs made during training
    checkpoints/step_N/  the job's state + LoRA at step N, ``checksums.json``, then ``COMPLETE`` (written only
                      through ``tuitune.jobs.checkpoints``: a partial folder, sealed, renamed, pruned)
    lora.safetensors  the final LoRA

Readers never need the writer to be alive: everything is in these files.

- A run is what its folder holds. A status.json that is missing, empty, not JSON or without a state is
  damaged: the state is then read from the other files (a final ``lora.safetensors`` means finished, else the
  last lifecycle event, else crashed or stopped) and never reads as queued, so the queue never starts it
  again. A status.json that says queued beside a final LoRA reads as finished.
- A checkpoint counts once its ``COMPLETE`` marker exists and every file has the size ``checksums.json``
  lists (cheap, for listings); a resume checks every byte against the sha256 and moves a damaged one aside
  to ``step_N.damaged``, saying so.
- A checkpoint that kept only its LoRA files (``[checkpoints] keep_state``) holds a ``LORA_ONLY`` marker and
  checksums of what is left: it is listed and evaluated like any other, but a resume only continues from a
  checkpoint with its full state (``resumable_checkpoint_steps``).
- A resume replays the steps after its checkpoint, so metrics.jsonl may hold a step twice: readers keep one
  row per step, the newest.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tuitune import atomic
from tuitune.errors import UserError
from tuitune.jobs.checksums import checksum_problem

HEARTBEAT_STALE_SECONDS = 30.0
COMPLETE = "COMPLETE"
LORA_ONLY = "LORA_ONLY"  # inside a checkpoint whose resumable state was dropped: its LoRA files are all it holds
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
            except ValueError:  # not JSON, or not UTF-8 (json.loads of bytes raises UnicodeDecodeError)
                self.skipped += 1
                continue
            if isinstance(value, dict):
                rows.append(value)
        return rows


@dataclass
class MetricsTail(JsonlTail):
    """metrics.jsonl, one row per step: a resume replays the steps after its checkpoint; the newest row wins.

    A tail cannot take back a row it has handed out, so a replayed step it gave before is left out (an exact
    resume replays the same numbers); within one read the newest row of a step is the one returned.
    """

    seen: set[int] = field(default_factory=set, repr=False)

    def read_new(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        at: dict[int, int] = {}
        for row in super().read_new():
            step = row.get("step")
            if not isinstance(step, int) or isinstance(step, bool):
                rows.append(row)
            elif step in self.seen:
                continue
            elif step in at:
                rows[at[step]] = row
            else:
                at[step] = len(rows)
                rows.append(row)
        self.seen.update(at)
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
    # run.toml as last parsed, with the (mtime, size) it was parsed at
    _config: tuple[tuple[int, int], dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    # --- run.toml ----------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """run.toml as written (its ``[job]`` table included), parsed once while the file stays unchanged; a
        copy, so a caller may pop tables. A missing or damaged run.toml is a UserError in one sentence."""
        try:
            info = self.run_toml.stat()
        except FileNotFoundError:
            raise UserError(f"{self.path} has no run.toml, so it is not a run folder; pick another run.") from None
        except OSError as exc:
            raise UserError(f"{self.name}'s run.toml cannot be read ({exc}); fix it or pick another run.") from None
        stamp = (info.st_mtime_ns, info.st_size)
        if self._config is None or self._config[0] != stamp:
            try:
                parsed = tomllib.loads(self.run_toml.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise UserError(f"{self.name}'s run.toml cannot be read ({exc}); fix it or pick another "
                                "run.") from None
            self._config = (stamp, parsed)
        return copy.deepcopy(self._config[1])

    def kind(self) -> str:
        """The ``[job] kind`` run.toml names; "" when it names none or cannot be read."""
        try:
            kind = self.config().get("job", {}).get("kind", "")
        except (UserError, AttributeError):
            return ""
        return kind if isinstance(kind, str) else ""

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
        """status.json as a dict; a damaged file reads as {} and a field of the wrong type is left out."""
        return self._load_status()[0]

    def status_problem(self) -> str | None:
        """What is wrong with status.json, in a few words, or None when it is sound."""
        return self.state_and_problem()[1]

    def state(self, now: float | None = None) -> RunState:
        """The state a reader should show: a live state whose worker is gone reads as crashed."""
        return self.state_and_problem(now)[0]

    def state_and_problem(self, now: float | None = None) -> tuple[RunState, str | None]:
        """The state to show and, when status.json is damaged, what is wrong with it (the state then comes
        from the rest of the folder, never ``queued``)."""
        status, problem = self._load_status()
        if "state" not in status:
            return self._state_from_files(), problem or "status.json names no state"
        state = RunState(status["state"])
        if state is RunState.QUEUED and self.lora_path.is_file():
            return (
                RunState.FINISHED,
                problem or "status.json says queued beside the run's final lora.safetensors",
            )
        if state.is_final or state is RunState.QUEUED:
            return state, problem
        now = time.time() if now is None else now
        stale = now - float(status.get("heartbeat") or 0) > HEARTBEAT_STALE_SECONDS
        if not pid_alive(status.get("pid")) and (stale or status.get("pid")):
            return RunState.CRASHED, problem
        return state, problem

    def _load_status(self) -> tuple[dict[str, Any], str | None]:
        try:
            raw = self.status_json.read_bytes()
        except FileNotFoundError:
            return {}, "status.json is missing"
        except OSError as exc:
            return {}, f"status.json cannot be read ({exc.strerror or exc})"
        if not raw.strip():
            return {}, "status.json is empty"
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {}, "status.json is not valid JSON"
        if not isinstance(value, dict):
            return {}, "status.json does not hold a JSON object"
        problem = None
        for key, kinds in STATUS_FIELDS.items():
            if key in value and value[key] is not None and not isinstance(value[key], kinds):
                problem = problem or f"status.json has a {key} of the wrong type ({value[key]!r:.40})"
                del value[key]
        if "state" in value and value["state"] not in _STATE_VALUES:
            problem = problem or f"status.json names an unknown state ({value['state']!r:.40})"
            del value["state"]
        return value, problem

    def _state_from_files(self) -> RunState:
        """The state a run's folder shows without its status.json: what it holds, then what it last told."""
        if self.lora_path.is_file():
            return RunState.FINISHED
        last, pid = None, None
        for event in self.read_events():
            kind = event.get("kind")
            if kind in _ENDED or kind in _BEGAN or kind == "queued":
                last = kind
            if kind in ("launched", "started") and isinstance(event.get("pid"), int):
                pid = event["pid"]
        if last in _ENDED:
            return _ENDED[last]
        if last in _BEGAN:
            return RunState.RUNNING if pid_alive(pid) else RunState.CRASHED
        if self.checkpoint_steps(checked=False) or self.metrics_jsonl.is_file():
            return RunState.CRASHED
        return RunState.STOPPED  # it never ran; only the user's resume starts it

    # --- metrics and events ------------------------------------------------------------------------
    def append_metric(self, row: dict[str, Any]) -> None:
        _append_jsonl(self.metrics_jsonl, row)

    def append_event(self, kind: str, **fields: Any) -> None:
        _append_jsonl(self.events_jsonl, {"time": time.time(), "kind": kind, **fields})

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every metric row, one per step (the newest, after a resume replayed some)."""
        return MetricsTail(self.metrics_jsonl).read_new()

    def read_events(self) -> list[dict[str, Any]]:
        return JsonlTail(self.events_jsonl).read_new()

    def metrics_tail(self) -> MetricsTail:
        return MetricsTail(self.metrics_jsonl)

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
    def checkpoint_steps(self, *, checked: bool = True) -> list[int]:
        """Steps of complete checkpoints: a ``COMPLETE`` marker and, when ``checked``, every file at the size
        its checksums.json lists (a stat per file; ``checkpoint_problem`` reads every byte)."""
        steps = []
        if not self.checkpoints_dir.is_dir():
            return steps
        for child in self.checkpoints_dir.iterdir():
            if not child.name.startswith("step_") or not (child / COMPLETE).exists():
                continue
            try:
                step = int(child.name.removeprefix("step_"))
            except ValueError:
                continue
            if not checked or checksum_problem(child, full=False) is None:
                steps.append(step)
        return sorted(steps)

    def checkpoint_dir(self, step: int) -> Path:
        return self.checkpoints_dir / f"step_{step}"

    def is_resumable(self, step: int) -> bool:
        """Whether checkpoint ``step`` still holds the state a resume needs (not only its LoRA files)."""
        return not (self.checkpoint_dir(step) / LORA_ONLY).exists()

    def resumable_checkpoint_steps(self, *, checked: bool = True) -> list[int]:
        """``checkpoint_steps`` without the checkpoints that kept only their LoRA files."""
        return [step for step in self.checkpoint_steps(checked=checked) if self.is_resumable(step)]

    def checkpoint_problem(self, step: int, *, full: bool = True) -> str | None:
        """What is wrong with checkpoint ``step`` in a few words, or None when every file matches its
        checksum (a checkpoint written before checkpoints carried checksums has nothing to check against)."""
        folder = self.checkpoint_dir(step)
        if not (folder / COMPLETE).exists():
            return "it is not complete"
        return checksum_problem(folder, full)

    def remove_partial_checkpoints(self) -> None:
        """Remove the folders of checkpoint writes that did not finish (a kill or a failed write)."""
        if self.checkpoints_dir.is_dir():
            for pattern in (".step_*.partial", "step_*.tmp"):
                for child in self.checkpoints_dir.glob(pattern):
                    shutil.rmtree(child, ignore_errors=True)

    def newest_intact_checkpoint(self) -> tuple[int | None, list[str]]:
        """The step a resume continues from: the newest resumable checkpoint whose every byte matches its
        checksums (LoRA-only checkpoints are not looked at).

        Each newer checkpoint that does not is moved aside to ``step_N.damaged`` (kept to look at, never
        offered again) and told in one sentence, returned with the step. Only the run's worker calls this.
        """
        damaged: list[tuple[int, str, Path]] = []
        found = None
        for step in reversed(self.resumable_checkpoint_steps(checked=False)):
            problem = self.checkpoint_problem(step)
            if problem is None:
                found = step
                break
            aside = self.checkpoints_dir / f"step_{step}.damaged"
            suffix = 2
            while aside.exists():
                aside = self.checkpoints_dir / f"step_{step}.damaged-{suffix}"
                suffix += 1
            os.replace(self.checkpoint_dir(step), aside)
            damaged.append((step, problem, aside))
        then = (
            f"the run resumes from step {found}, the newest intact checkpoint"
            if found is not None
            else "no intact checkpoint is left, so the run starts again from step 0"
        )
        notes = [
            f"Checkpoint step {step} is damaged ({problem}); it is kept as "
            f"{aside.relative_to(self.path)} and {then}."
            for step, problem, aside in damaged
        ]
        return found, notes

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


_NUMBER = (int, float)
# The fields of status.json a reader relies on and the JSON types it accepts for them.
STATUS_FIELDS: dict[str, tuple[type, ...]] = {
    "state": (str,), "message": (str,), "kind": (str,),
    "pid": (int,), "pgid": (int,), "step": _NUMBER, "total_steps": _NUMBER, "checkpoint_step": _NUMBER,
    "heartbeat": _NUMBER, "created": _NUMBER, "queued_at": _NUMBER, "started": _NUMBER, "ended": _NUMBER,
}  # fmt: skip
_STATE_VALUES = {str(s) for s in RunState}
# Lifecycle events and the state each leaves a run in, for reading a run whose status.json is damaged.
_ENDED = {
    "finished": RunState.FINISHED,
    "stopped": RunState.STOPPED,
    "dequeued": RunState.STOPPED,
    "failed": RunState.FAILED,
}
_BEGAN = {"launched", "started", "resume", "resumed"}

