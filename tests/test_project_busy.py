"""A write that finds the project database locked by another process past the busy timeout says so plainly."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuitune.cli import UserError
from tuitune.project.db import DB_FILE, ProjectBusy, ProjectDB


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[ProjectDB]:
    ProjectDB(tmp_path / DB_FILE, tmp_path).close()  # create the schema with the default timeout
    opened = ProjectDB(tmp_path / DB_FILE, tmp_path, busy_timeout_ms=100)
    yield opened
    opened.close()


def test_a_write_while_another_process_writes_gives_the_busy_sentence(db: ProjectDB, tmp_path: Path) -> None:
    db.ui_set("app", {"screen": "intent"})
    other = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another tuitune process in the middle of a write
    try:
        with pytest.raises(UserError) as caught:
            db.ui_set("app", {"screen": "dataset"})
        assert isinstance(caught.value, ProjectBusy)
        assert str(caught.value) == (
            "The project database is busy (another tuitune process is writing to it), so the change was not "
            "saved; try again in a moment."
        )
        assert "database is locked" not in str(caught.value)
        with pytest.raises(ProjectBusy):
            db.save_spec({"concepts": []}, "a spec")
    finally:
        other.execute("ROLLBACK")
        other.close()
    # Nothing was half written, and once the other writer is done the same change goes through.
    assert db.ui_get("app") == {"screen": "intent"}
    assert db.specs() == []
    db.ui_set("app", {"screen": "dataset"})
    assert db.ui_get("app") == {"screen": "dataset"}


def test_reads_go_on_while_another_process_writes(db: ProjectDB, tmp_path: Path) -> None:
    db.ui_set("app", {"screen": "intent"})
    other = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert db.ui_get("app") == {"screen": "intent"}
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_the_default_wait_is_five_seconds(tmp_path: Path) -> None:
    opened = ProjectDB(tmp_path / DB_FILE, tmp_path)
    try:
        assert opened.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    finally:
        opened.close()
