"""The PostgreSQL backend: one history shared by several studio processes (STUDIO_DATABASE_URL).

psycopg 3 with a connection pool; connections run each statement on its own (autocommit) unless a transaction
is asked for. The versioned migrations are the SQLite ones with PostgreSQL's types, applied once under an
advisory lock however many processes start at the same moment; the version is kept in `schema_version`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from lib.core.errors import ConfigError, redact
from lib.store.base import MIGRATIONS, BaseStore

# connections per process unless told (STUDIO_DATABASE_POOL_SIZE): statements are short, so the worker's threads
# and the pages share them
POOL_SIZE = 16
CONNECT_SECONDS = 10  # how long a start waits for the database before saying it cannot be reached
MIGRATION_LOCK = 1_200_000_012  # the advisory lock every process's migration takes (any number, the same for all)
# PostgreSQL's REAL is single precision: times must stay double; seeds and ids may pass 32 bits
TYPES = {r"\bREAL\b": "DOUBLE PRECISION", r"\bINTEGER\b": "BIGINT"}
# SQLite's implicit rowid (insertion order, where created_at ties) made explicit on the two tables
EXTRA = {1: "ALTER TABLE tasks ADD COLUMN rowid BIGSERIAL; CREATE UNIQUE INDEX tasks_rowid ON tasks (rowid);",
         8: "ALTER TABLE scores ADD COLUMN rowid BIGSERIAL;"}


def migration(number: int) -> str:
    """Migration `number` (from 1) in PostgreSQL's words."""
    script = MIGRATIONS[number - 1]
    for word, replacement in TYPES.items():
        script = re.sub(word, replacement, script)
    return script + EXTRA.get(number, "")


class _Row(tuple):
    """A row read by column name or by position, like sqlite3.Row."""
    names: dict[str, int]

    def __getitem__(self, key):
        return tuple.__getitem__(self, self.names[key] if isinstance(key, str) else key)


def _rows(cursor):
    names = {column.name: index for index, column in enumerate(cursor.description or ())}

    def make(values):
        row = _Row(values)
        row.names = names
        return row
    return make


class _Connection:
    """A pooled connection that speaks the shared queries' `?` placeholders."""

    def __init__(self, connection: psycopg.Connection):
        self.connection = connection

    def execute(self, sql: str, args=None) -> psycopg.Cursor:
        if args is None:  # a script of several statements (migrations): sent as it is
            return self.connection.execute(sql)
        # `?` outside quoted literals are placeholders; PostgreSQL text cannot hold NUL, so it is dropped
        parts = re.split(r"('(?:[^']|'')*')", sql.replace("%", "%%"))
        sql = "".join(part if number % 2 else part.replace("?", "%s") for number, part in enumerate(parts))
        return self.connection.execute(sql, [arg.replace("\0", "") if isinstance(arg, str) else arg for arg in args])


def where(parts: dict) -> str:
    """The database's host, port and name for a message: never the user's password."""
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


class PostgresStore(BaseStore):
    FOR_UPDATE = " FOR UPDATE"
    IntegrityError = psycopg.IntegrityError
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    # ILIKE: SQLite's LIKE ignores case too. PostgreSQL's JSON refuses an escaped NUL (\u0000, as a prompt with a
    # NUL is stored) in any row read, so those are left out of the text searched.
    PROMPT_LIKE = ("((PARAMS ->> 'prompt') ILIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM jsonb_array_elements("
                   "CASE jsonb_typeof(PARAMS -> 'timing_prompts') WHEN 'array' THEN PARAMS -> 'timing_prompts'"
                   " ELSE '[]' END) AS event WHERE (event ->> 'prompt') ILIKE ? ESCAPE '\\'))").replace(
        "PARAMS", r"regexp_replace(params, '(?<!\\)((?:\\\\)*)\\u0000', '\1', 'g')::jsonb")

    def __init__(self, conninfo: str, pool_size: int = POOL_SIZE):
        try:
            parts = conninfo_to_dict(conninfo)
        except psycopg.Error:  # its message quotes the address, password and all
            raise ConfigError("STUDIO_DATABASE_URL is not a database address the studio can read.") from None
        try:  # once by hand first: a wrong address or password is said at once, not after the pool's retries
            psycopg.connect(conninfo, connect_timeout=CONNECT_SECONDS).close()
        except psycopg.Error as error:
            reason = redact(str(error).strip(), [parts.get("password")]).splitlines()[0]
            raise ConfigError(f"The studio cannot reach its database at {where(parts)} ({reason}): check the "
                              "address, the user and the password in STUDIO_DATABASE_URL.") from None
        self.conninfo = conninfo
        self.pool = ConnectionPool(conninfo, min_size=1, max_size=pool_size, open=False, name="studio-store",
                                   kwargs={"autocommit": True, "row_factory": _rows})
        try:
            self.pool.open(wait=True, timeout=CONNECT_SECONDS)
            self._migrate()
        except PoolTimeout:
            self.pool.close()
            raise ConfigError(f"The studio cannot reach its database at {where(parts)}: check the address, "
                              "the user and the password in STUDIO_DATABASE_URL.") from None
        except BaseException:
            self.pool.close()
            raise

    def _migrate(self) -> None:
        """Bring the schema to the latest version, once: every process takes the same lock first, so the ones that
        start together wait and then find nothing left to do."""
        with self._transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATION_LOCK])
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (0)")
            version = row[0] if row else 0
            for number in range(version + 1, len(MIGRATIONS) + 1):
                db.execute(migration(number))
            db.execute("UPDATE schema_version SET version = ?", [max(version, len(MIGRATIONS))])

    @contextmanager
    def _connect(self) -> Iterator[_Connection]:
        with self.pool.connection() as connection:
            yield _Connection(connection)

    @contextmanager
    def _transaction(self, lock: str | None = None) -> Iterator[_Connection]:
        with self.pool.connection() as connection, connection.transaction():
            db = _Connection(connection)
            if lock:  # twins (the same submission token) wait here for each other; other writers do not
                db.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [lock])
            yield db

    @property
    def schema_version(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT version FROM schema_version").fetchone()[0]

    def close(self) -> None:
        self.pool.close()
