"""``finagent data``: fill the recorded market-data store (export-sim, CSV import).

The store's layout is in ``docs/backtest.md``; :mod:`finagent.adapters.replay.store` writes it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from finagent.adapters.replay.store import DailyRow, open_store
from finagent.adapters.sim.market import SimMarket
from finagent.adapters.sim.model import BarStream, Day, build_universe, dec, draw_day, snapshot
from finagent.app.exchange import exchange_calendar
from finagent.app.parts import sim_session_for
from finagent.app.rules import scan_rules
from finagent.domain.errors import FinagentError
from finagent.domain.gaps import passing
from finagent.domain.market import BAR, Bar, Headline, Session
from finagent.domain.schedule import SessionOffset, WallTime, parse_at

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from finagent.settings import Settings

__all__ = [
    "DataError",
    "ExportResult",
    "derive_daily",
    "export_sim",
    "gapped",
    "import_csv",
    "scan_instant",
]

NEW_YORK = ZoneInfo("America/New_York")
_PREMARKET = time(4, 0)
ATR_DAYS = 14
VOLUME_DAYS = 20


class DataError(FinagentError):
    """Data cannot be read or written as asked (bad CSV row, not a session); one line."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What one exported day wrote."""

    day: date
    universe: int
    replayed: int
    bars: int
    headlines: int


def scan_instant(settings: Settings, session: Session) -> datetime:
    """When the schedule's first ``scan`` entry fires on ``session`` (default: open - 30 min)."""
    for entry in settings.schedule.values():
        if entry.job_type == "scan" and entry.at:
            spec = parse_at(entry.at)
            if isinstance(spec, SessionOffset):
                base = session.open if spec.anchor.value == "open" else session.close
                return base + spec.offset
            if isinstance(spec, WallTime):  # pragma: no branch - AtSpec has two kinds
                zone = ZoneInfo(entry.tz or settings.exchange.timezone)
                return datetime.combine(session.date, spec.time, zone)
    return session.open - timedelta(minutes=30)


def gapped(open_px: Decimal, prev_close: Decimal, min_gap_pct: float) -> bool:
    """Did the day open at least half the scan's gap threshold away from the previous close?"""
    return prev_close > 0 and abs(open_px / prev_close - 1) * 100 >= Decimal(min_gap_pct) / 2


def _session_for(settings: Settings) -> Callable[[date], Session | None]:
    return sim_session_for(exchange_calendar(settings.exchange.calendar))


def _frac(at: datetime, opens: datetime) -> float:
    start = datetime.combine(opens.astimezone(NEW_YORK).date(), _PREMARKET, NEW_YORK)
    return min(max((at - start) / (opens - start), 0.0), 1.0)


def _px(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01") if value >= 1 else Decimal("0.0001"))


def export_sim(settings: Settings, day: date, path: Path) -> ExportResult:
    """Write the simulator's day (``sim.seed``, ``sim.symbols``) into the store at ``path``.

    Every symbol gets a daily row; the symbols the scan can pick (the simulator's snapshot at the
    scan instant passes the scan rules) also get pre-market and regular-hours minute bars and
    their headlines. The pre-market bars add up,
    at the schedule's scan instant, to exactly the simulator's snapshot there (so a backtest of
    the day scans what ``simulate`` scans); between 04:00 and that instant they are a straight
    path from the previous close, and after it they follow the simulator's snapshots.
    """
    session_for = _session_for(settings)
    session = session_for(day)
    if session is None:
        raise DataError(
            f"{day.isoformat()} is not a trading session on {settings.exchange.calendar}"
        )
    seed, n = settings.sim.seed, settings.sim.symbols
    names, profiles = build_universe(seed, n)
    prefix = f"{seed}:{day.isoformat()}:"
    at_scan = scan_instant(settings, session)
    daily: list[DailyRow] = []
    bars: list[Bar] = []
    chosen: list[str] = []
    rules = scan_rules(settings)
    frac = _frac(at_scan, session.open)
    for symbol in names:
        prof = profiles[symbol]
        d = draw_day(symbol, prof, prefix)
        open_px = dec(d.open_px)
        if not passing([snapshot(symbol, d, at_scan, frac)], rules):
            daily.append(
                DailyRow(
                    day,
                    symbol,
                    open_px,
                    open_px,
                    open_px,
                    open_px,
                    0,
                    d.prev_close_d,
                    d.atr_d,
                    prof.adv,
                )
            )
            continue
        chosen.append(symbol)
        pre = _premarket_bars(symbol, d, session, at_scan)
        regular = BarStream(symbol, session, d, prof, seed).upto(session.close)
        bars.extend(pre)
        bars.extend(regular)
        daily.append(
            DailyRow(
                day,
                symbol,
                regular[0].open,
                max(b.high for b in regular),
                min(b.low for b in regular),
                regular[-1].close,
                sum(b.volume for b in regular),
                d.prev_close_d,
                d.atr_d,
                prof.adv,
            )
        )
    news = _sim_headlines(settings, session_for, chosen, day)
    store = open_store(path, create=True)
    try:
        covered = [(day, s, k) for s in chosen for k in ("minute", "news")]
        store.write(daily=daily, bars=bars, news=news, coverage=covered)
    finally:
        store.close()
    return ExportResult(day, len(names), len(chosen), len(bars), len(news))


def _premarket_bars(symbol: str, d: Day, session: Session, at_scan: datetime) -> list[Bar]:
    """Bars from 04:00 to the open whose aggregate at ``at_scan`` is the simulator's snapshot."""
    start = datetime.combine(session.date, _PREMARKET, NEW_YORK)
    count = int((session.open - start) / BAR)
    k = max(0, min(count, int((at_scan - start) / BAR)))
    target = snapshot(symbol, d, start + k * BAR, _frac(start + k * BAR, session.open))
    hi, lo, prev = target.premarket_high, target.premarket_low, d.prev_close_d
    out: list[Bar] = []
    before = min(max(prev, lo), hi)
    for i in range(k):  # a straight path to the snapshot's last, inside its high and low
        close = target.last if i == k - 1 else _px(prev + (target.last - prev) * (i + 1) / k)
        close = min(max(close, lo), hi)
        share = target.premarket_volume // k + (target.premarket_volume % k if i == k - 1 else 0)
        high, low = (hi, lo) if i == k // 2 else (max(before, close), min(before, close))
        out.append(Bar(symbol, start + i * BAR, before, high, low, close, share))
        before = close
    done = target.premarket_volume
    for i in range(k, count):  # after the scan instant: the simulator's snapshots, minute by minute
        end = start + (i + 1) * BAR
        snap = snapshot(symbol, d, end, _frac(end, session.open))
        high, low = max(before, snap.last), min(before, snap.last)
        volume = max(snap.premarket_volume - done, 0)
        out.append(Bar(symbol, start + i * BAR, before, high, low, snap.last, volume))
        before, done = snap.last, done + volume
    return out


def _sim_headlines(
    settings: Settings,
    session_for: Callable[[date], Session | None],
    symbols: Sequence[str],
    day: date,
) -> list[Headline]:
    """The simulator's headlines of ``day`` (published 16:00 the day before to 08:30)."""
    import trio

    sim = SimMarket(symbols=settings.sim.symbols, seed=settings.sim.seed, session_for=session_for)
    since = datetime.combine(day - timedelta(days=1), time(16, 0), NEW_YORK)
    until = datetime.combine(day, time(8, 30), NEW_YORK)

    async def fetch() -> list[Headline]:
        return list(await sim.headlines(symbols, since, until))

    return trio.run(fetch) if symbols else []


# ---- derived daily fields ---------------------------------------------------------------------
def derive_daily(history: Sequence[DailyRow]) -> list[DailyRow]:
    """Each row with its previous close, ATR (14 days) and average volume (20 days) filled in.

    Computed from the rows before it only (what was known before that session opened); the
    first row of a symbol has no previous close and is not a scan-ready session.
    """
    out: list[DailyRow] = []
    for i, row in enumerate(history):
        if i == 0:
            out.append(row)
            continue
        before = history[max(0, i - VOLUME_DAYS) : i]
        ranges = []
        for j in range(max(1, i - ATR_DAYS), i):
            p, r = history[j - 1].close, history[j]
            ranges.append(max(r.high - r.low, abs(r.high - p), abs(r.low - p)))
        if not ranges:
            ranges = [history[0].high - history[0].low]
        atr = _px(sum(ranges, Decimal(0)) / len(ranges))
        avg = sum(r.volume for r in before) / len(before)
        out.append(
            DailyRow(
                row.day,
                row.symbol,
                row.open,
                row.high,
                row.low,
                row.close,
                row.volume,
                history[i - 1].close,
                atr,
                avg,
            )
        )
    return out


# ---- CSV import -------------------------------------------------------------------------------
_COLUMNS = ("symbol", "timestamp", "open", "high", "low", "close", "volume")


def _parse_rows(file: Path) -> tuple[list[Bar], bool]:
    """The bars of one CSV file and whether they are daily; a bad row is a one-line DataError."""
    daily = file.stem.lower().startswith("daily")
    bars: list[Bar] = []
    last: dict[str, datetime] = {}
    with file.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise DataError(f"{file}:1: missing column(s) {', '.join(missing)}")
        for row in reader:
            where = f"{file}:{reader.line_num}"
            if any(row.get(c) in (None, "") for c in _COLUMNS):
                empty = [c for c in _COLUMNS if row.get(c) in (None, "")]
                raise DataError(f"{where}: missing value for {', '.join(empty)}")
            symbol = row["symbol"].strip().upper()
            try:
                at = _timestamp(row["timestamp"], daily)
            except ValueError:
                raise DataError(f"{where}: bad timestamp {row['timestamp']!r}") from None
            try:
                o, h, lo, c = (Decimal(row[k]) for k in ("open", "high", "low", "close"))
                if not all(x.is_finite() and x > 0 for x in (o, h, lo, c)):
                    raise InvalidOperation
                volume = int(row["volume"])
            except (InvalidOperation, ValueError):
                raise DataError(f"{where}: non-numeric or non-positive price or volume") from None
            prior = last.get(symbol)
            if prior is not None and at == prior:
                raise DataError(
                    f"{where}: duplicate {'day' if daily else 'minute'}"
                    f" {at.isoformat()} for {symbol}"
                )
            if prior is not None and at < prior:
                raise DataError(f"{where}: timestamp {at.isoformat()} out of order for {symbol}")
            last[symbol] = at
            bars.append(Bar(symbol, at, o, h, lo, c, volume))
    return bars, daily


def _timestamp(text: str, daily: bool) -> datetime:
    text = text.strip()
    if daily and len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(0), UTC)
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(text)
    return at.astimezone(UTC)


def import_csv(settings: Settings, folder: Path, path: Path) -> tuple[int, int]:
    """Import every ``*.csv`` of ``folder`` (layout in docs/backtest.md); returns (days, bars).

    Every file is checked before anything is written, and everything is written in one
    transaction: a bad row leaves the store as it was.
    """
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise DataError(f"{folder}: no .csv files")
    daily_bars: list[Bar] = []
    minute_bars: list[Bar] = []
    for file in files:
        bars, daily = _parse_rows(file)
        (daily_bars if daily else minute_bars).extend(bars)
    store = open_store(path, create=True)
    try:
        by_symbol: dict[str, list[DailyRow]] = {}
        for row in store.history():
            by_symbol.setdefault(row.symbol, []).append(row)
        for b in daily_bars:
            rows = by_symbol.setdefault(b.symbol, [])
            rows[:] = [r for r in rows if r.day != b.start.date()]
            rows.append(
                DailyRow(b.start.date(), b.symbol, b.open, b.high, b.low, b.close, b.volume)
            )
        rows_out = [
            r
            for rows in by_symbol.values()
            for r in derive_daily(sorted(rows, key=lambda r: r.day))
        ]
        covered = {(b.start.astimezone(NEW_YORK).date(), b.symbol, "minute") for b in minute_bars}
        store.write(daily=rows_out, bars=minute_bars, coverage=sorted(covered))
    finally:
        store.close()
    return len({b.start.date() for b in daily_bars}), len(minute_bars)
