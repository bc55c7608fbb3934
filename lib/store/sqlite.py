"""The SQLite backend: the history in one file in the data folder (the default, for one studio process).

SQLite in WAL mode with one short-lived connection per call is safe for many sessions and the poller at once;
a write transaction (BEGIN IMMEDIATE) holds the one writer lock, so it is never raced by another writer.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lib.store.base import IN_FLIGHT, MAX_SEARCH_CHARS, MIGRATIONS, BaseStore, _to_row

__all__ = ["IN_FLIGHT", "MAX_SEARCH_CHARS", "MIGRATIONS", "Store", "_to_row"]


class Store(BaseStore):
    UNINDEXED = "+"
    IntegrityError = sqlite3.IntegrityError
    PROMPT_LIKE = ("(json_extract(params, '$.prompt') LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM"
                   " json_each(params, '$.timing_prompts') WHERE json_extract(value, '$.prompt') LIKE ? ESCAPE '\\'))")

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self, lock: str | None = None) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:  # one writer at a time: every transaction already excludes its twins
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        with self._connect() as db:
            return db.execute("PRAGMA user_version").fetchone()[0]
