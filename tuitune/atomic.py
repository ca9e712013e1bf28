"""Atomic file writes (a temp file beside the target, fsync, rename over it) and locked JSON updates."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuitune.errors import UserError

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None  # type: ignore[assignment]


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never half of one."""
    write_with(path, lambda tmp: tmp.write_bytes(data))


def write_with(path: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Replace ``path`` with the file ``write`` makes at a temporary path beside it: fsynced, then renamed over
    ``path``, so readers see the old or the new file, never half of one (for writers that want a path, such as
    safetensors)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def fsync(path: str | os.PathLike[str]) -> None:
    """Flush a file's bytes, or a folder's entries (a rename into it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


# --- locked read-modify-write -------------------------------------------------------------------------
# POSIX only: ``fcntl.flock`` on a hidden sidecar ``.<name>.lock``. Where fcntl is missing (Windows) the lock is a
# no-op and updates behave as plain read-then-replace, as they did before locking existed.

LOCK_TIMEOUT = 10.0  # seconds; a lock is held for milliseconds, so waiting this long means a stuck writer


class FileBusy(UserError, TimeoutError):
    """Another process held a file's lock past the timeout. Also a TimeoutError (an OSError), so code that
    reports a failed write by catching OSError reports this one too."""


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar file whose lock guards ``path``; it is left in place (removing it would race)."""
    target = Path(path)
    return target.with_name(f".{target.name}.lock")


@contextmanager
def exclusive(path: str | os.PathLike[str], timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (through ``lock_path(path)``) for the ``with`` block.

    Every process and thread that updates ``path`` through here is kept out meanwhile; readers are not
    (the writes are atomic replaces). Waits up to ``timeout`` seconds, then raises ``FileBusy``.
    """
    if fcntl is None:
        yield
        return
    sidecar = lock_path(path)
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(sidecar, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        fd = os.open(sidecar, os.O_RDONLY)  # someone else's lock file: flock needs no write access
    try:
        _acquire(fd, sidecar, Path(path), timeout)
        try:
            # Who holds it, for the timeout message of whoever waits next.
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock, also when the process dies


def _acquire(fd: int, sidecar: Path, target: Path, timeout: float) -> None:
    assert fcntl is not None
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                break
        # Polling rather than a blocking flock: a thread cannot be woken from one when the timeout ends.
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    holder = ""
    try:
        pid = sidecar.read_text(encoding="utf-8").strip()
        holder = f" (process {pid})" if pid.isdigit() else ""
    except OSError:
        pass
    raise FileBusy(
        f"{target.name} in {target.parent} stayed locked by another tuitune process{holder} for "
        f"{timeout:g} s, so the change was not saved; try again in a moment, or stop that process if it is stuck."
    )


def update_json(
    path: str | os.PathLike[str],
    change: Callable[[Any], Any],
    default: Any = None,
    timeout: float = LOCK_TIMEOUT,
) -> Any:
    """Read ``path`` (``default`` when it is missing), apply ``change`` and write its result, all under
    ``exclusive(path)``; returns what was written. When ``change`` raises, the file is left as it was."""
    target = Path(path)
    with exclusive(target, timeout):
        try:
            current = json.loads(target.read_text(encoding="utf-8"))
        except FileNotFoundError:
            current = copy.deepcopy(default)
        new = change(current)
        write_json(target, new)
    return new
