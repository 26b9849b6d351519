"""The recorded market-data store: one SQLite file, layout in ``docs/backtest.md``.

Times are UTC Unix seconds; prices are integers of ten-thousandths of a dollar (exact, and
sub-dollar prices keep their four decimals). ``daily`` holds one row per (session, symbol) with
what the scan needs (previous close, ATR, average volume); ``minute_bars`` the pre-market and
regular-hours bars of the symbols that could gap; ``coverage`` which (session, symbol, kind)
were recorded, so a missing minute is told apart from one never fetched, and a download resumes.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from finagent.domain.errors import ConfigError, MarketDataError
from finagent.domain.market import Bar, Headline

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

__all__ = [
    "LAYOUT_VERSION",
    "DailyRow",
    "ReplayDataGap",
    "ReplayStore",
    "ReplayStoreError",
    "from_price",
    "open_store",
    "to_price",
]

LAYOUT_VERSION = "1"
_SCALE = 10_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS daily (
    date TEXT NOT NULL, symbol TEXT NOT NULL,
    open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL, close INTEGER NOT NULL,
    volume INTEGER NOT NULL, prev_close INTEGER, atr INTEGER, avg_volume REAL,
    PRIMARY KEY (date, symbol)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minute_bars (
    symbol TEXT NOT NULL, start INTEGER NOT NULL,
    open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL, close INTEGER NOT NULL,
    volume INTEGER NOT NULL, PRIMARY KEY (symbol, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coverage (
    date TEXT NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (date, symbol, kind)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS news (
    id TEXT PRIMARY KEY, at INTEGER NOT NULL, symbols TEXT NOT NULL, headline TEXT NOT NULL,
    source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS news_at ON news(at);
"""


class ReplayStoreError(ConfigError):
    """The store path cannot be opened as a store (a folder, not SQLite, unreadable)."""


class ReplayDataGap(MarketDataError):
    """The store lacks data the replay needs: which symbol, which day, which minutes."""


def to_price(value: Decimal) -> int:
    """A price as integer ten-thousandths of a dollar; more decimals are refused."""
    scaled = value * _SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {value} has more than 4 decimals")
    return int(scaled)


@functools.lru_cache(maxsize=1 << 16)  # a day's bars repeat few prices; Decimal is immutable
def from_price(value: int) -> Decimal:
    """The canonical Decimal of a stored price: cents from $1 up when whole, else 4 decimals."""
    if value >= _SCALE and value % 100 == 0:
        return Decimal(value // 100).scaleb(-2)
    return Decimal(value).scaleb(-4)


def epoch(at: datetime) -> int:
    """A tz-aware time as UTC Unix seconds."""
    return int(at.timestamp())


def from_epoch(value: int) -> datetime:
    """UTC Unix seconds as a tz-aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True, slots=True)
class DailyRow:
    """One session's daily bar of a symbol with the fields the scan derives from history."""

    day: date
    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    prev_close: Decimal | None = None
    atr: Decimal | None = None
    avg_volume: float | None = None


class ReplayStore:
    """Reads and writes one store file; every write is one transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    def close(self) -> None:
        """Close the file."""
        self.conn.close()

    # ---- writes ---------------------------------------------------------------------------
    def write(
        self,
        *,
        daily: Iterable[DailyRow] = (),
        bars: Iterable[Bar] = (),
        news: Iterable[Headline] = (),
        coverage: Iterable[tuple[date, str, str]] = (),
    ) -> None:
        """Insert (or replace) rows in one transaction: all of them or none."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO daily VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    (
                        d.day.isoformat(),
                        d.symbol,
                        to_price(d.open),
                        to_price(d.high),
                        to_price(d.low),
                        to_price(d.close),
                        d.volume,
                        None if d.prev_close is None else to_price(d.prev_close),
                        None if d.atr is None else to_price(d.atr),
                        d.avg_volume,
                    )
                    for d in daily
                ),
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO minute_bars VALUES (?,?,?,?,?,?,?)",
                (
                    (
                        b.symbol,
                        epoch(b.start),
                        to_price(b.open),
                        to_price(b.high),
                        to_price(b.low),
                        to_price(b.close),
                        b.volume,
                    )
                    for b in bars
                ),
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO news VALUES (?,?,?,?,?)",
                ((h.id, epoch(h.at), ",".join(h.symbols), h.headline, h.source) for h in news),
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO coverage VALUES (?,?,?)",
                ((d.isoformat(), s, k) for d, s, k in coverage),
            )

    # ---- reads ----------------------------------------------------------------------------
    def dates(self) -> list[date]:
        """Every session date with daily rows a scan can use (a previous close)."""
        rows = self.conn.execute(
            "SELECT DISTINCT date FROM daily WHERE prev_close IS NOT NULL ORDER BY date"
        )
        return [date.fromisoformat(r[0]) for r in rows]

    def daily(self, day: date) -> dict[str, DailyRow]:
        """The scan-ready daily rows of a session, by symbol."""
        rows = self.conn.execute(
            "SELECT symbol, open, high, low, close, volume, prev_close, atr, avg_volume"
            " FROM daily WHERE date = ? AND prev_close IS NOT NULL ORDER BY symbol",
            (day.isoformat(),),
        )
        return {
            r[0]: DailyRow(
                day,
                r[0],
                from_price(r[1]),
                from_price(r[2]),
                from_price(r[3]),
                from_price(r[4]),
                r[5],
                from_price(r[6]),
                from_price(r[7]) if r[7] is not None else Decimal(0),
                r[8] or 0.0,
            )
            for r in rows
        }

    def history(self, symbols: Sequence[str] | None = None) -> list[DailyRow]:
        """The daily bars (no derived fields) of ``symbols`` (None: every symbol), by symbol
        then date."""
        sql = "SELECT date, symbol, open, high, low, close, volume FROM daily"
        params: tuple[str, ...] = ()
        if symbols is not None:
            sql += f" WHERE symbol IN ({','.join('?' * len(symbols))})"
            params = tuple(symbols)
        rows = self.conn.execute(f"{sql} ORDER BY symbol, date", params)
        return [
            DailyRow(date.fromisoformat(r[0]), r[1], from_price(r[2]), from_price(r[3]),
                     from_price(r[4]), from_price(r[5]), r[6])
            for r in rows
        ]  # fmt: skip

    def covered_days(self, kind: str, symbols: Sequence[str]) -> set[tuple[date, str]]:
        """Every (session, symbol) of ``symbols`` whose ``kind`` data was recorded."""
        marks = ",".join("?" * len(symbols))
        rows = self.conn.execute(
            f"SELECT date, symbol FROM coverage WHERE kind = ? AND symbol IN ({marks})",
            (kind, *symbols),
        )
        return {(date.fromisoformat(r[0]), r[1]) for r in rows}

    def covered(self, day: date, kind: str) -> set[str]:
        """The symbols whose ``kind`` ("daily", "minute", "news") data of ``day`` was recorded."""
        rows = self.conn.execute(
            "SELECT symbol FROM coverage WHERE date = ? AND kind = ?", (day.isoformat(), kind)
        )
        return {r[0] for r in rows}

    def bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """Stored bars of ``symbol`` with ``start <= bar.start`` and ``bar.end <= end``."""
        rows = self.conn.execute(
            "SELECT start, open, high, low, close, volume FROM minute_bars"
            " WHERE symbol = ? AND start >= ? AND start < ? ORDER BY start",
            (symbol, epoch(start), epoch(end) - 59),
        )
        return [
            Bar(
                symbol,
                from_epoch(r[0]),
                from_price(r[1]),
                from_price(r[2]),
                from_price(r[3]),
                from_price(r[4]),
                r[5],
            )
            for r in rows
        ]

    def summary(
        self, symbol: str, start: datetime, end: datetime
    ) -> tuple[Decimal, Decimal, Decimal, int] | None:
        """(last close, high, low, volume) of the bars ``bars(symbol, start, end)`` would
        return, computed in SQL (a scan needs no bar decoded); None when there are none."""
        bounds = (symbol, epoch(start), epoch(end) - 59)
        row = self.conn.execute(
            "SELECT MAX(high), MIN(low), SUM(volume), (SELECT close FROM minute_bars"
            " WHERE symbol = ?1 AND start >= ?2 AND start < ?3 ORDER BY start DESC LIMIT 1)"
            " FROM minute_bars WHERE symbol = ?1 AND start >= ?2 AND start < ?3",
            bounds,
        ).fetchone()
        if row[3] is None:
            return None
        return from_price(row[3]), from_price(row[0]), from_price(row[1]), row[2]

    def news(self, start: datetime, end: datetime) -> list[Headline]:
        """Headlines published in ``[start, end)``, by time then id."""
        rows = self.conn.execute(
            "SELECT id, at, symbols, headline, source FROM news WHERE at >= ? AND at < ?"
            " ORDER BY at, id",
            (epoch(start), epoch(end)),
        )
        return [Headline(r[0], from_epoch(r[1]), tuple(r[2].split(",")), r[3], r[4]) for r in rows]


def open_store(path: Path, *, create: bool = False) -> ReplayStore:
    """Open a store file (``create``: make it and its schema when missing)."""
    if not create and not path.exists():
        raise ReplayDataGap(f"replay store {path} does not exist (finagent data download/import)")
    if path.is_dir():
        raise ReplayStoreError(f"replay store {path} is a folder, not a store file")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path)
    except (OSError, sqlite3.Error) as exc:
        raise ReplayStoreError(f"replay store {path}: cannot open it ({exc})") from exc
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if create:
            with conn:
                conn.executescript(_SCHEMA)
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('layout_version', ?)", (LAYOUT_VERSION,)
                )
    except sqlite3.Error as exc:
        conn.close()
        raise ReplayStoreError(f"replay store {path}: not a usable store ({exc})") from exc
    return ReplayStore(conn, path)
