"""The project database's schema: its migrations, the check that upgrades an older file or refuses a newer one,
and the check that refuses a damaged one (before anything is read from it or written beside it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuitune.errors import UserError

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


# sqlite's names for "this file is not (any more) a sound database": SQLITE_CORRUPT and its extended codes,
# SQLITE_NOTADB. Busy, locked, read-only and I/O errors are not damage and keep their own sentences.
_DAMAGE = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """``exc`` says the database file is damaged (not busy, locked or unwritable)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name:
        return name.startswith(_DAMAGE)
    return "malformed" in str(exc) or "not a database" in str(exc)


def damaged(path: Path, reason: str) -> UserError:
    """The one sentence for a damaged ``tuitune.db``: what is wrong, and how to get a sound one back."""
    backups = sorted(path.parent.glob(f"{path.name}.schema*.bak"), key=lambda p: (len(p.name), p.name))
    fresh = (f"move it aside (`mv {path} {path}.damaged`) and `tuitune dataset import FOLDER --into {path.parent}` "
             "makes a fresh one from dataset.json (then state your intent again)")
    if backups:
        return UserError(f"{path} is damaged ({reason}); restore the copy tuitune kept before its last upgrade "
                         f"(`cp {backups[-1]} {path}`; it lacks later changes), or {fresh}.")
    return UserError(f"{path} is damaged ({reason}) and tuitune keeps no copy of it; {fresh}.")


def reason_of(exc: sqlite3.DatabaseError) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_NOTADB" or "not a database" in str(exc):
        return "it is not an SQLite database"
    return f"sqlite says: {exc}"


def check_sound(conn: sqlite3.Connection, path: Path) -> None:
    """Read every page of the database (``PRAGMA quick_check``: b-tree structure, record sizes; milliseconds for
    a project's database) and raise ``damaged`` when one is not sound, so a damaged file is found when it is
    opened, not halfway through a command that has already written pictures or JSON files."""
    text_factory = conn.text_factory
    conn.text_factory = bytes  # the check quotes what it found, which may not be UTF-8
    try:
        rows = [r[0].decode("utf-8", "replace") for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
    finally:
        conn.text_factory = text_factory
    if rows != ["ok"]:
        raise damaged(path, "sqlite's check says: " + "; ".join(rows).rstrip(".")[:200])


def _undecodable(exc: sqlite3.DatabaseError) -> bool:
    # Python's sqlite3 says this of a stored text that is not UTF-8: a value damaged inside a sound page.
    return "Could not decode to UTF-8" in str(exc)


class CheckedConnection(sqlite3.Connection):
    """A connection (``sqlite3.connect(..., factory=CheckedConnection)``) whose statements and fetches raise
    ``damaged`` for the file at ``damage_path`` when sqlite finds a damaged page or a stored text that is not
    UTF-8 after the open-time check passed (that check reads every page's structure, not every value)."""

    damage_path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        cursor = _CheckedCursor(self)
        cursor.row_factory = self.row_factory  # as Connection.cursor() does
        return cursor.execute(sql, parameters)


class _CheckedCursor(sqlite3.Cursor):
    def _guard(self, call: Callable[[], Any]) -> Any:
        path = self.connection.damage_path  # type: ignore[attr-defined]
        try:
            return call()
        except sqlite3.DatabaseError as exc:
            if is_damage(exc) or _undecodable(exc):
                reason = "a stored text is not UTF-8" if _undecodable(exc) else reason_of(exc)
                raise damaged(path, reason) from None
            raise
        except UnicodeDecodeError:  # sqlite's own message quotes damaged bytes
            raise damaged(path, "sqlite met bytes that are not UTF-8 where text belongs") from None

    def execute(self, sql: str, parameters: Any = (), /) -> _CheckedCursor:
        return self._guard(lambda: super(_CheckedCursor, self).execute(sql, parameters))  # type: ignore[no-any-return]

    def fetchone(self) -> Any:
        return self._guard(super().fetchone)

    def fetchall(self) -> list[Any]:
        return self._guard(super().fetchall)  # type: ignore[no-any-return]

    def fetchmany(self, size: int = 1) -> list[Any]:
        return self._guard(lambda: super(_CheckedCursor, self).fetchmany(size))  # type: ignore[no-any-return]

    def __next__(self) -> Any:
        return self._guard(super().__next__)
