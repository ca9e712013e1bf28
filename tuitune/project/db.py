"""``tuitune.db``: typed queries on the project's SQLite database (WAL, paths stored relative to the project)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.project.records import (
    DECISIONS,
    EvalRecord,
    Instance,
    Item,
    MaskEntry,
    RunRecord,
    SpecVersion,
    Turn,
)
from tuitune.project.schema import (
    DB_FILE,
    MIGRATIONS,
    SCHEMA_VERSION,
    CheckedConnection,
    backup_before_migration,
    check_sound,
    check_version,
    damaged,
    is_damage,
    migration_statements,
    reason_of,
    schema_version,
)

# Callers import the schema constants and row types from here too.
__all__ = [
    "DB_FILE",
    "DECISIONS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "EvalRecord",
    "Instance",
    "Item",
    "MaskEntry",
    "ProjectBusy",
    "ProjectDB",
    "ProjectReadOnly",
    "RunRecord",
    "SpecVersion",
    "Turn",
    "check_database",
]


class ProjectReadOnly(UserError):
    """A write was attempted on a project opened read-only."""


class ProjectBusy(UserError):
    """Another process kept the database's write lock longer than the busy timeout."""


BUSY_TIMEOUT_MS = 5000


def check_database(path: Path) -> None:
    """Read every page of the database at ``path`` and its schema version, changing nothing: the one sentence
    for a damaged file, or for one a newer tuitune wrote, when it cannot be used (an older one can: opening it
    for writing upgrades it)."""
    if path.stat().st_size == 0:
        raise damaged(path, "it is empty")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, factory=CheckedConnection)
    conn.damage_path = path
    try:
        check_sound(conn, path)
        check_version(conn, path, False, lambda: None)
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            raise damaged(path, reason_of(exc)) from None
        raise
    finally:
        conn.close()


class ProjectDB:
    """Typed access to every table; writes are single transactions and fail with one clear sentence."""

    def __init__(self, path: Path, root: Path, readonly: bool = False, why_readonly: str = "",
                 busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        # busy_timeout_ms: how long a write waits for another process's write before raising ProjectBusy.
        self.path, self.root, self.readonly = path, root, readonly
        self.why_readonly = why_readonly or "it was opened read-only"
        if readonly and not path.exists():
            raise UserError(f"{root} has no {DB_FILE} yet; open it for writing once to create it.")
        if path.is_file() and path.stat().st_size == 0:
            # sqlite would take an empty file for a new database and start over without a word.
            raise damaged(path, "it is empty")
        if readonly:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False,
                                        factory=CheckedConnection)
        else:
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                        factory=CheckedConnection)
        self.conn.damage_path = path
        try:
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # Checked before anything is read or written, so no command stops halfway on a damaged page.
            check_sound(self.conn, path)
            self.conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
            self._check_version()
        except BaseException as exc:
            self.conn.close()
            if isinstance(exc, sqlite3.DatabaseError) and is_damage(exc):
                raise damaged(path, reason_of(exc)) from None
            raise

    # --- schema ------------------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return schema_version(self.conn)

    def _check_version(self) -> None:
        check_version(self.conn, self.path, self.readonly, self.migrate)

    def migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION; a copy of an existing database is kept beside it first."""
        backup_before_migration(self.conn, self.path)
        for number in range(self.schema_version, SCHEMA_VERSION):
            with self._write():
                for statement in migration_statements(number):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise ProjectReadOnly(
                f"This project is read-only because {self.why_readonly}; the change was not saved."
            )
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            name = getattr(exc, "sqlite_errorname", "")
            if name == "SQLITE_FULL" or "full" in str(exc):
                raise UserError(
                    "The disk is full, so the change was not saved (nothing else was lost); "
                    "free some space and try again."
                ) from None
            if name.startswith("SQLITE_IOERR"):
                raise UserError(
                    f"{self.path.name} could not be written (the disk may be full or failing), so the change "
                    "was not saved (nothing else was lost); free some space and try again."
                ) from None
            if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc):
                raise ProjectBusy(
                    "The project database is busy (another tuitune process is writing to it), so the change "
                    "was not saved; try again in a moment."
                ) from None
            if name == "SQLITE_READONLY" or "readonly" in str(exc):
                raise ProjectReadOnly(
                    f"{self.path} cannot be written (read-only file or folder); the change was not saved."
                ) from None
            raise

    def close(self) -> None:
        self.conn.close()

    def _stored(self, text: Any) -> Any:
        """A JSON value tuitune stored (it stores only ``json.dumps`` output): one that does not parse was
        damaged in the file."""
        try:
            return json.loads(text)
        except (ValueError, TypeError):
            raise damaged(self.path, "a stored JSON value does not parse") from None

    # --- paths -------------------------------------------------------------------------------------
    def rel(self, path: str | Path) -> str:
        """How a path is stored: relative to the project when inside it, so a moved project still opens."""
        p = Path(path)
        if not p.is_absolute():
            return p.as_posix()
        try:
            return p.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(p)  # outside the project: the user named it on purpose

    def abs(self, stored: str) -> Path:
        p = Path(stored)
        return p if p.is_absolute() else self.root / p

    # --- specs and dialogue ------------------------------------------------------------------------
    def save_spec(self, spec_json: str | dict[str, Any], message: str = "") -> int:
        """Store a new spec version (1, 2, ...) and return its number."""
        text = spec_json if isinstance(spec_json, str) else json.dumps(spec_json, sort_keys=True)
        json.loads(text)  # refuse to store something that is not JSON
        with self._write() as conn:
            version = int(conn.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM specs").fetchone()[0])
            conn.execute("INSERT INTO specs VALUES (?, ?, ?, ?)", (version, text, message, time.time()))
        return version

    def specs(self) -> list[SpecVersion]:
        rows = self.conn.execute("SELECT * FROM specs ORDER BY version").fetchall()
        return [SpecVersion(r["version"], r["spec_json"], r["message"], r["created"]) for r in rows]

    def latest_spec(self) -> SpecVersion | None:
        specs = self.specs()
        return specs[-1] if specs else None

    def add_turn(
        self, role: str, text: str, spec_version: int | None = None, attachments: Sequence[Any] = ()
    ) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO turns (role, text, spec_version, created, attachments) VALUES (?, ?, ?, ?, ?)",
                (role, text, spec_version, time.time(), json.dumps(list(attachments))),
            )
        return int(cursor.lastrowid or 0)

    def turns(self) -> list[Turn]:
        rows = self.conn.execute("SELECT * FROM turns ORDER BY id").fetchall()
        return [
            Turn(r["id"], r["role"], r["text"], r["spec_version"], self._stored(r["attachments"]), r["created"])
            for r in rows
        ]

    # --- dataset items -----------------------------------------------------------------------------
    def upsert_item(
        self,
        image: str | Path,
        caption: str | None = None,
        enabled: bool | None = None,
        split: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Add an image (or update the fields given) and return its item id."""
        with self._write() as conn:
            return self._upsert_item(conn, image, caption, enabled, split, meta)

    def upsert_items(self, rows: Sequence[tuple[str | Path, str | None, dict[str, Any] | None]]) -> None:
        """``upsert_item`` of many (image, caption, meta) rows in one transaction: all are recorded or none."""
        with self._write() as conn:
            for image, caption, meta in rows:
                self._upsert_item(conn, image, caption, None, None, meta)

    def _upsert_item(self, conn: sqlite3.Connection, image: str | Path, caption: str | None, enabled: bool | None,
                     split: str | None, meta: dict[str, Any] | None) -> int:
        # A relative ``image`` is relative to the project (as stored), never to the current folder.
        key, now = self.rel(image), time.time()
        conn.execute(
            "INSERT INTO items (image, created, updated) VALUES (?, ?, ?) ON CONFLICT(image) DO NOTHING",
            (key, now, now),
        )
        updates = {
            "caption": caption,
            "enabled": None if enabled is None else int(enabled),
            "split": split,
        }
        updates["meta"] = None if meta is None else json.dumps(meta, sort_keys=True)
        for column, value in updates.items():
            if value is not None:
                conn.execute(f"UPDATE items SET {column} = ?, updated = ? WHERE image = ?", (value, now, key))
        row = conn.execute("SELECT id FROM items WHERE image = ?", (key,)).fetchone()
        return int(row["id"])

    def items(self, split: str | None = None, enabled: bool | None = None) -> list[Item]:
        query, args = "SELECT * FROM items WHERE 1=1", []
        if split is not None:
            query, args = query + " AND split = ?", [*args, split]
        if enabled is not None:
            query, args = query + " AND enabled = ?", [*args, int(enabled)]
        rows = self.conn.execute(query + " ORDER BY id", args).fetchall()
        return [self._item(r) for r in rows]

    def item(self, image: str | Path) -> Item | None:
        row = self.conn.execute("SELECT * FROM items WHERE image = ?", (self.rel(image),)).fetchone()
        return self._item(row) if row else None

    def remove_item(self, image: str | Path) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM items WHERE image = ?", (self.rel(image),))

    def _item(self, r: sqlite3.Row) -> Item:
        return Item(r["id"], r["image"], self.abs(r["image"]), r["caption"], bool(r["enabled"]), r["split"],
                    self._stored(r["meta"]))  # fmt: skip

    def _item_id(self, conn: sqlite3.Connection, image: str | Path) -> int:
        row = conn.execute("SELECT id FROM items WHERE image = ?", (self.rel(image),)).fetchone()
        if row is None:
            raise UserError(f"{image} is not in the dataset; add the image before its masks.")
        return int(row["id"])

    # --- masks and instances -----------------------------------------------------------------------
    def set_mask(
        self, image: str | Path, concept: str, mask_path: str | Path, source: str = "manual"
    ) -> None:
        with self._write() as conn:
            item_id = self._item_id(conn, image)
            conn.execute(
                "INSERT INTO masks (item_id, concept, path, updated, source) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(item_id, concept) DO UPDATE SET path = excluded.path, "
                "updated = excluded.updated, source = excluded.source",
                (item_id, concept, self.rel(mask_path), time.time(), source),
            )

    def remove_mask(self, image: str | Path, concept: str) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM masks WHERE item_id = ? AND concept = ?", (self._item_id(conn, image), concept)
            )

    def masks(self, image: str | Path | None = None) -> list[MaskEntry]:
        query = "SELECT items.image, masks.* FROM masks JOIN items ON items.id = masks.item_id"
        args: list[Any] = []
        if image is not None:
            query, args = query + " WHERE items.image = ?", [self.rel(image)]
        rows = self.conn.execute(query + " ORDER BY items.id, masks.concept", args).fetchall()
        return [MaskEntry(r["image"], r["concept"], self.abs(r["path"]), r["source"]) for r in rows]

    def add_instance(self, image: str | Path, concept: str, box: Sequence[float], score: float = 0.0) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO instances (item_id, concept, box, score, updated) VALUES (?, ?, ?, ?, ?)",
                (
                    self._item_id(conn, image),
                    concept,
                    json.dumps([float(v) for v in box]),
                    score,
                    time.time(),
                ),
            )
        return int(cursor.lastrowid or 0)

    def replace_instances(
        self, image: str | Path, concept: str, found: Sequence[tuple[Sequence[float], float, str]]
    ) -> list[int]:
        """Make ``found`` ((box, score, decision) each) the only instances of ``concept`` in ``image``.

        One transaction, so detecting again replaces the earlier rows instead of adding to them.
        """
        for _box, _score, decision in found:
            if decision not in DECISIONS:
                raise UserError(f"Decision {decision!r} is not one of {', '.join(DECISIONS)}.")
        ids: list[int] = []
        with self._write() as conn:
            item_id = self._item_id(conn, image)
            conn.execute("DELETE FROM instances WHERE item_id = ? AND concept = ?", (item_id, concept))
            for box, score, decision in found:
                cursor = conn.execute(
                    "INSERT INTO instances (item_id, concept, box, score, decision, updated) VALUES (?, ?, ?, ?, ?, ?)",
                    (item_id, concept, json.dumps([float(v) for v in box]), float(score), decision, time.time()),
                )
                ids.append(int(cursor.lastrowid or 0))
        return ids

    def clear_instances(self, image: str | Path | None = None, concept: str | None = None) -> int:
        """Forget detected instances (of one image and/or concept, else all); returns how many went."""
        query, args = "DELETE FROM instances WHERE 1=1", []
        with self._write() as conn:
            if image is not None:
                query, args = query + " AND item_id = ?", [*args, self._item_id(conn, image)]
            if concept is not None:
                query, args = query + " AND concept = ?", [*args, concept]
            return int(conn.execute(query, args).rowcount)

    def set_instance_decision(self, instance_id: int, decision: str) -> None:
        if decision not in DECISIONS:
            raise UserError(f"Decision {decision!r} is not one of {', '.join(DECISIONS)}.")
        with self._write() as conn:
            conn.execute(
                "UPDATE instances SET decision = ?, updated = ? WHERE id = ?",
                (decision, time.time(), instance_id),
            )

    def instances(self, image: str | Path | None = None, concept: str | None = None) -> list[Instance]:
        query = "SELECT items.image, instances.* FROM instances JOIN items ON items.id = instances.item_id WHERE 1=1"
        args: list[Any] = []
        if image is not None:
            query, args = query + " AND items.image = ?", [*args, self.rel(image)]
        if concept is not None:
            query, args = query + " AND instances.concept = ?", [*args, concept]
        rows = self.conn.execute(query + " ORDER BY instances.id", args).fetchall()
        return [
            Instance(
                r["id"], r["image"], r["concept"], tuple(self._stored(r["box"])), r["score"], r["decision"]
            )
            for r in rows
        ]

    # --- runs and UI state -------------------------------------------------------------------------
    def record_run(self, name: str, kind: str, path: str | Path, note: str = "") -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs (name, kind, path, created, note) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, path = excluded.path, note = excluded.note",
                (name, kind, self.rel(path), time.time(), note),
            )

    def runs(self) -> list[RunRecord]:
        rows = self.conn.execute("SELECT * FROM runs ORDER BY created").fetchall()
        return [RunRecord(r["name"], r["kind"], self.abs(r["path"]), r["created"], r["note"]) for r in rows]

    def record_evals(self, run: str, rows: Sequence[dict[str, Any]], recommended: str | None = None) -> None:
        """Store evaluation rows of ``run`` (as ``eval.jsonl`` has them) and mark its recommended checkpoint."""
        now = time.time()
        with self._write() as conn:
            for row in rows:
                metrics = list(row.get("metrics", []))
                score = next((m.get("value") for m in metrics if m.get("name") == "intent score"), None)
                conn.execute(
                    "INSERT INTO evals (run, checkpoint, step, settings, spec_version, status, score, metrics, "
                    "reason, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run, str(row.get("checkpoint")), row.get("step"), str(row.get("settings", "")),
                     row.get("spec_version"), str(row.get("status", "")), score, json.dumps(metrics, default=str),
                     str(row.get("reason", "")), float(row.get("time", now))),
                )
            if recommended is not None:
                conn.execute("UPDATE evals SET recommended = 0 WHERE run = ?", (run,))
                conn.execute(
                    "UPDATE evals SET recommended = 1 WHERE id = (SELECT MAX(id) FROM evals "
                    "WHERE run = ? AND checkpoint = ?)", (run, recommended),
                )

    def evals(self, run: str | None = None) -> list[EvalRecord]:
        """Evaluation rows, oldest first; a checkpoint evaluated again has one row per evaluation."""
        query, args = "SELECT * FROM evals", ()
        if run is not None:
            query, args = query + " WHERE run = ?", (run,)
        rows = self.conn.execute(query + " ORDER BY id", args).fetchall()
        return [
            EvalRecord(r["id"], r["run"], r["checkpoint"], r["step"], r["settings"], r["spec_version"], r["status"],
                       r["score"], self._stored(r["metrics"]), r["reason"], bool(r["recommended"]), r["created"])
            for r in rows
        ]

    def ui_get(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM ui_state WHERE key = ?", (key,)).fetchone()
        return self._stored(row["value"]) if row else default

    def ui_set(self, key: str, value: Any) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO ui_state VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "value = excluded.value, updated = excluded.updated",
                (key, json.dumps(value), time.time()),
            )
