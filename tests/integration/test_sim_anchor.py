"""The stored sim timeline in SQLite: read, kept on restart, dropped by ``--reset-timeline``."""

from __future__ import annotations

from pathlib import Path

import pytest

from finagent.adapters.sqlite.schema import StoreError, connect_writer
from finagent.adapters.sqlite.state import SimAnchor, clear_anchor, load_anchor, read_anchor


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
