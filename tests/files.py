"""Test helpers for watching files: a whole folder's listing with contents, and waiting for a condition."""

from __future__ import annotations

import os
import time
from pathlib import Path


def tree(folder: Path, skip: Path | None = None, skip_sqlite: bool = False) -> dict[str, object]:
    """Every file, folder and link under ``folder`` (less ``skip``) with its contents: equal before and after
    means untouched. ``skip_sqlite`` leaves out SQLite's -wal/-shm files, which any reader of a database may
    make or change."""
    found: dict[str, object] = {}
    for here, dirs, files in os.walk(folder, followlinks=False):
        if skip is not None and Path(here) == skip.parent and skip.name in dirs:
            dirs.remove(skip.name)
        for name in dirs + files:
            if skip_sqlite and name.endswith(("-wal", "-shm")):
                continue
            path = Path(here) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[rel] = f"link to {os.readlink(path)}"
            elif path.is_dir():
                found[rel] = "folder"
            else:
                found[rel] = path.read_bytes()
    return found


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
