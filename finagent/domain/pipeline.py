"""The JSON round trip of the values job payloads carry (sessions, candidates, plans), and job keys.

The job payloads themselves (one frozen type per job type) are in
:mod:`finagent.domain.job_types`; they are built from these codecs. Every ``*_from_json``
raises :class:`~finagent.domain.wire.PayloadError` on a value that does not fit. Keys derive
from the session date, so re-running a step enqueues nothing twice.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from finagent.domain.gaps import GapCandidate
from finagent.domain.market import Direction, Headline, Session, Side, Snapshot
from finagent.domain.planning import TradePlan
from finagent.domain.wire import JsonObject, PayloadError, read, read_decimal, read_list, read_time

__all__ = [
    "candidate_from_json",
    "candidate_to_json",
    "execute_key",
    "plan_due",
    "plan_from_json",
    "plan_to_json",
    "session_from_json",
    "session_to_json",
    "stage_key",
    "time_stop_key",
]


# ---- sessions --------------------------------------------------------------------------
def session_to_json(session: Session) -> dict[str, Any]:
    """The fields a scheduled job carries (the scheduler's payload uses the same names)."""
    return {
        "session_date": session.date.isoformat(),
        "session_open": session.open.isoformat(),
        "session_close": session.close.isoformat(),
    }


def session_from_json(obj: JsonObject) -> Session:
    """The session a job runs for."""
    text = read(obj, "session_date", str)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PayloadError("payload: field 'session_date' is not a date") from None
    opens, closes = read_time(obj, "session_open"), read_time(obj, "session_close")
    if closes <= opens:
        raise PayloadError("payload: session closes before it opens")
    return Session(day, opens, closes)


# ---- candidates ------------------------------------------------------------------------
def candidate_to_json(c: GapCandidate) -> dict[str, Any]:
    """A scan candidate with its snapshot and catalysts."""
    s = c.snapshot
    return {
        "symbol": s.symbol,
        "at": s.at.isoformat(),
        "last": str(s.last),
        "prev_close": str(s.prev_close),
        "premarket_high": str(s.premarket_high),
        "premarket_low": str(s.premarket_low),
        "premarket_volume": s.premarket_volume,
        "typical_premarket_volume": s.typical_premarket_volume,
        "atr": str(s.atr),
        "catalysts": [
            {"id": h.id, "at": h.at.isoformat(), "symbols": list(h.symbols), "text": h.headline}
            for h in c.catalysts
        ],
    }


def candidate_from_json(obj: JsonObject) -> GapCandidate:
    """Rebuild a candidate; gap, direction and relative volume follow from the snapshot."""
    snap = Snapshot(
        read(obj, "symbol", str),
        read_time(obj, "at"),
        read_decimal(obj, "last"),
        read_decimal(obj, "prev_close"),
        read_decimal(obj, "premarket_high"),
        read_decimal(obj, "premarket_low"),
        read(obj, "premarket_volume", int),
        read(obj, "typical_premarket_volume", int),
        read_decimal(obj, "atr"),
    )
    if snap.prev_close <= 0:
        raise PayloadError("payload: candidate prev_close must be > 0")
    headlines = tuple(
        Headline(
            read(h, "id", str),
            read_time(h, "at"),
            tuple(read_list(h, "symbols")),
            read(h, "text", str),
        )
        for h in read_list(obj, "catalysts")
    )
    gap = snap.gap_pct
    return GapCandidate(
        snap, gap, Direction.UP if gap > 0 else Direction.DOWN, snap.relative_volume, headlines
    )


# ---- plans -----------------------------------------------------------------------------
def plan_to_json(p: TradePlan) -> dict[str, Any]:
    """A trade plan."""
    return {
        "key": p.key,
        "symbol": p.symbol,
        "side": p.side.value,
        "entry": str(p.entry),
        "stop": str(p.stop),
        "target": str(p.target),
        "valid_from": p.valid_from.isoformat(),
        "time_stop_at": p.time_stop_at.isoformat(),
        "flatten_at": p.flatten_at.isoformat(),
        "stop_basis": p.stop_basis,
    }


def plan_from_json(obj: JsonObject) -> TradePlan:
    """Rebuild a trade plan."""
    text = read(obj, "side", str)
    try:
        side = Side(text)
    except ValueError:
        raise PayloadError("payload: plan side must be long or short") from None
    return TradePlan(
        key=read(obj, "key", str),
        symbol=read(obj, "symbol", str),
        side=side,
        entry=read_decimal(obj, "entry"),
        stop=read_decimal(obj, "stop"),
        target=read_decimal(obj, "target"),
        valid_from=read_time(obj, "valid_from"),
        time_stop_at=read_time(obj, "time_stop_at"),
        flatten_at=read_time(obj, "flatten_at"),
        stop_basis=read(obj, "stop_basis", str),
    )


# ---- keys ------------------------------------------------------------------------------
def stage_key(stage: str, session: Session) -> str:
    """The one job of a per-session stage: ``score:2025-01-06``."""
    return f"{stage}:{session.date.isoformat()}"


def execute_key(session: Session, symbol: str) -> str:
    """The execute job of one plan; the broker's client order id derives from it."""
    return f"execute:{session.date.isoformat()}:{symbol}"


def time_stop_key(session: Session, symbol: str) -> str:
    """The per-symbol time stop, delayed to the plan's time stop."""
    return f"time_stop:{session.date.isoformat()}:{symbol}"


def plan_due(session: Session, range_minutes: int) -> datetime:
    """When the opening range is complete: plans are drawn then."""
    return session.open + timedelta(minutes=range_minutes, seconds=1)
