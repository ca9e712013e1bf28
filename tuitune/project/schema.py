"""The project database's schema: its migrations, and the check that upgrades an older file or refuses a newer one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from tuitune.cli import UserError

DB_FILE = "tuitune.db"

# Each entry moves the schema one version up; never edit a released entry, append a new one.
MIGRATIONS: list[str] = [
    # 1: spec versions, dialogue, dataset items, masks index, runs
    """
    CREATE TABLE specs (version INTEGER PRIMARY KEY, spec_json TEXT NOT NULL,
                        message TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
    CREATE TABLE turns (id INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT NOT NULL, text TEXT NOT NULL,
                        spec_version INTEGER, created REAL NOT NULL);
    CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, image TEXT NOT NULL UNIQUE,
                        caption TEXT NOT NULL DEFAULT '', created REAL NOT NULL, updated REAL NOT NULL);
    CREATE TABLE masks (item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
                        concept TEXT NOT NULL, path TEXT NOT NULL, updated REAL NOT NULL,
                        PRIMARY KEY (item_id, concept));
    CREATE TABLE runs (name TEXT PRIMARY KEY, kind TEXT NOT NULL, path TEXT NOT NULL, created REAL NOT NULL);
    """,
    # 2: item flags and split, mask source, detected instances with accept/reject, UI session state
    """
    ALTER TABLE turns ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE items ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE items ADD COLUMN split TEXT NOT NULL DEFAULT 'train';
    ALTER TABLE items ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE masks ADD COLUMN source TEXT NOT NULL DEFAULT 'manual';
    ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';
    CREATE TABLE instances (id INTEGER PRIMARY KEY AUTOINCREMENT,
                            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
                            concept TEXT NOT NULL, box TEXT NOT NULL, score REAL NOT NULL DEFAULT 0,
                            decision TEXT NOT NULL DEFAULT 'pending'
                                CHECK (decision IN ('pending', 'accepted', 'rejected')),
                            updated REAL NOT NULL);
    CREATE INDEX instances_by_item ON instances(item_id, concept);
    CREATE TABLE ui_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL);
    """,
    # 3: evaluation results per run and checkpoint, and which checkpoint is recommended
    """
    CREATE TABLE evals (id INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT NOT NULL, checkpoint TEXT NOT NULL,
                        step INTEGER, settings TEXT NOT NULL DEFAULT '', spec_version INTEGER,
                        status TEXT NOT NULL, score REAL, metrics TEXT NOT NULL DEFAULT '[]',
                        reason TEXT NOT NULL DEFAULT '', recommended INTEGER NOT NULL DEFAULT 0,
                        created REAL NOT NULL);
    CREATE INDEX evals_by_run ON evals(run, checkpoint);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(conn: sqlite3.Connection, path: Path, readonly: bool, migrate: Callable[[], None]) -> None:
    """Open only a schema this tuitune knows: a newer one is refused, an older one upgraded (``migrate``)."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{path.name} was written by a newer tuitune (schema {version}, this one knows "
            f"{SCHEMA_VERSION}); upgrade tuitune to open this project."
        )
    if version == SCHEMA_VERSION:
        return
    if readonly:
        raise UserError(
            f"{path.name} uses an older schema ({version}); open the project for writing once to upgrade it."
        )
    migrate()


def backup_before_migration(conn: sqlite3.Connection, path: Path) -> None:
    """Keep a copy of an existing database beside it (``tuitune.db.schemaN.bak``) before its schema changes."""
    version = schema_version(conn)
    if version > 0:
        backup = path.with_name(f"{path.name}.schema{version}.bak")
        with sqlite3.connect(backup) as copy:
            conn.backup(copy)
        copy.close()


def migration_statements(number: int) -> list[str]:
    """The SQL statements that take the schema from version ``number`` to ``number + 1``."""
    return [s.strip() for s in MIGRATIONS[number].split(";") if s.strip()]
