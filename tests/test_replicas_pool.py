"""Each studio process keeps a bounded number of PostgreSQL connections: STUDIO_DATABASE_POOL_SIZE, else sized
from the worker's queries in flight."""
from __future__ import annotations

import pytest

from lib.core.errors import ConfigError
from lib.service.config import MAX_POOL_SIZE, MIN_POOL_SIZE, Settings, load_settings
from lib.store import open_store


def test_unset_it_is_half_the_queries_in_flight_per_vendor_and_never_below_the_minimum():
    assert load_settings({}, {}).pool_size == 16  # 32 queries in flight per vendor
    assert load_settings({"STUDIO_POLL_CONCURRENCY": "64"}, {}).pool_size == 32
    assert load_settings({"STUDIO_POLL_CONCURRENCY": "2"}, {}).pool_size == MIN_POOL_SIZE
    assert Settings(poll_concurrency=40).pool_size == 20


@pytest.mark.parametrize("size", [str(MIN_POOL_SIZE), " 24 ", str(MAX_POOL_SIZE)])
def test_set_it_wins(size):
    assert load_settings({"STUDIO_DATABASE_POOL_SIZE": size, "STUDIO_POLL_CONCURRENCY": "64"}, {}).pool_size == int(size)


def test_every_bad_value_is_refused_with_the_other_problems():
    for size in ("0", str(MIN_POOL_SIZE - 1), str(MAX_POOL_SIZE + 1), "2.5", "many", "nan", "1e400", "-8"):
        with pytest.raises(ConfigError) as refused:
            load_settings({"STUDIO_DATABASE_POOL_SIZE": size, "STUDIO_TASK_TIMEOUT": "0"}, {})
        assert f"STUDIO_DATABASE_POOL_SIZE must be a whole number from {MIN_POOL_SIZE} to {MAX_POOL_SIZE}" in str(
            refused.value), size
        assert "STUDIO_TASK_TIMEOUT" in str(refused.value)


def test_the_store_keeps_at_most_that_many(postgres_url, tmp_path):
    store = open_store(postgres_url, tmp_path, load_settings({"STUDIO_DATABASE_POOL_SIZE": "5"}, {}).pool_size)
    try:
        assert store.pool.max_size == 5
    finally:
        store.close()
