"""The history store: SQLite in the data folder, or PostgreSQL when STUDIO_DATABASE_URL names one."""
from __future__ import annotations

from pathlib import Path

from lib.store.base import BaseStore


def open_store(database_url: str | None, data_dir: Path | str, pool_size: int | None = None) -> BaseStore:
    """The store for these settings: PostgreSQL at `database_url` if given (keeping up to `pool_size`
    connections), else SQLite in `data_dir`."""
    if database_url:
        # psycopg is loaded only by studios that use it
        from lib.store.postgres import POOL_SIZE, PostgresStore

        return PostgresStore(database_url, pool_size or POOL_SIZE)
    from lib.store.sqlite import Store

    return Store(Path(data_dir) / "studio.db")
