"""The writer lock of a project: one process writes, others read; a dead holder's lock is taken over."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tuitune.errors import UserError

LOCK_FILE = "tuitune.lock"


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    since: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.since))
        return f"process {self.pid} on {self.host} since {when}"


class ProjectLocked(UserError):
    """Another process holds the project's writer lock."""

    def __init__(self, root: Path, holder: LockHolder | None) -> None:
        self.holder = holder
        who = holder.describe() if holder else "another process"
        super().__init__(
            f"Project {root.name} is open for writing by {who}; close it there, "
            "or open it read-only (--readonly)."
        )


def read_holder(path: Path) -> LockHolder | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(int(raw["pid"]), str(raw["host"]), float(raw["since"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


class WriterLock:
    """An flock on ``tuitune.lock`` held for the life of this object; the file says who holds it."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_FILE
        self._fd: int | None = None
        self.took_over: LockHolder | None = None  # a stale holder whose lock we took

    def acquire(self) -> WriterLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # The kernel drops an flock when its holder dies, so a dead holder never blocks us.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ProjectLocked(self.path.parent, read_holder(self.path)) from None
        previous = read_holder(self.path)
        if previous is not None and (previous.pid, previous.host) != (os.getpid(), socket.gethostname()):
            self.took_over = previous
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode("utf-8"), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
