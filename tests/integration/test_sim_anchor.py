"""The stored sim timeline (SQLite, Redis): read, kept on restart, dropped by a reset."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from finagent.adapters.redis.queue import open_redis_queue
from finagent.adapters.redis.state import clear_sim_anchor, load_sim_anchor, read_sim_anchor
from finagent.adapters.sqlite.schema import StoreError, connect_writer
from finagent.adapters.sqlite.state import SimAnchor, clear_anchor, load_anchor, read_anchor
from finagent.domain.jobs import QueuePolicy
from tests.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, used by name below


def _anchor(path: Path, anchor: SimAnchor) -> SimAnchor:
    conn = connect_writer(path)
    try:
        return load_anchor(conn, anchor)
    finally:
        conn.close()


def test_no_database_has_no_timeline_and_nothing_to_clear(tmp_path: Path) -> None:
    assert read_anchor(tmp_path / "none.db") is None
    assert clear_anchor(tmp_path / "none.db") is False
    assert not (tmp_path / "none.db").exists()


def test_the_first_anchor_stays_until_it_is_cleared(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    first = _anchor(path, SimAnchor(100.0, 200.0, 10.0))
    assert _anchor(path, SimAnchor(500.0, 600.0, 20.0)) == first
    assert read_anchor(path) == first
    assert clear_anchor(path) is True
    assert read_anchor(path) is None
    assert clear_anchor(path) is False
    assert _anchor(path, SimAnchor(500.0, 600.0, 20.0)).speed == 20.0


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not sqlite at all, just some text that is long enough\n")
    with pytest.raises(StoreError):
        read_anchor(path)
    with pytest.raises(StoreError):
        clear_anchor(path)


async def test_the_redis_anchor_is_read_and_cleared(redis_server: RedisServer) -> None:
    async with open_redis_queue(redis_server.url, QueuePolicy(1.0, 1), time.time) as queue:
        assert await read_sim_anchor(queue) is None
        assert await clear_sim_anchor(queue) is False
        stored = await load_sim_anchor(queue, 100.0, 200.0, 10.0)
        assert await read_sim_anchor(queue) == stored == (100.0, 200.0, 10.0)
        assert await clear_sim_anchor(queue) is True
        assert await read_sim_anchor(queue) is None
