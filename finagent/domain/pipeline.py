"""Typed payloads of the trading pipeline's jobs, their keys, and their JSON round trip.

The data path, one job per step, each completed together with the next step's jobs::

    scan     schedule:premarket_scan:<date>  (or scan:<date>)  -> score:<date>
    score    score:<date>      every scan candidate            -> plan:<date> (delayed)
    plan     plan:<date>       the ranked top N, run at open + range -> risk:<date>
    risk     risk:<date>       every plan drawn                -> execute:<date>:<symbol>
    execute  execute:<date>:<symbol>  one risk decision        -> time_stop:<date>:<symbol>
    time_stop / flatten / report: per symbol (delayed) or from the schedule (a sweep)

Scoring, planning and risk take the whole session's list in one job: ranking cuts across
candidates and risk limits count across plans, so one job gives the same decisions however
often a step crashes and retries. Keys derive from the session date, so re-running a step
enqueues nothing twice. ``parse`` raises :class:`PayloadError` (never retryable) on a payload
that does not fit its type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from finagent.domain.errors import FinagentError
from finagent.domain.gaps import GapCandidate
from finagent.domain.market import Direction, Headline, Session, Side, Snapshot
from finagent.domain.planning import TradePlan
from finagent.domain.risk import RejectCode, RiskDecision, RiskReason, TradingState

__all__ = [
    "JOB_TYPES",
    "Decision",
    "PayloadError",
    "candidate_from_json",
    "candidate_to_json",
    "decision_from_json",
    "decision_to_json",
    "execute_key",
    "plan_due",
    "plan_from_json",
    "plan_to_json",
    "session_from_json",
    "session_to_json",
    "stage_key",
    "time_stop_key",
    "validate",
]

JOB_TYPES = ("scan", "score", "plan", "risk", "execute", "time_stop", "flatten", "report")
JsonObject = Mapping[str, Any]


class PayloadError(FinagentError, ValueError):
    """A job payload that does not fit its job type; the job goes to dead, not retried."""


def _get(obj: JsonObject, name: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(obj, Mapping) or name not in obj:
        raise PayloadError(f"payload: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PayloadError(f"payload: field {name!r} has the wrong type")
    return value


def _dt(obj: JsonObject, name: str) -> datetime:
    text = _get(obj, name, str)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"payload: field {name!r} is not an ISO time") from None
    if value.tzinfo is None:
        raise PayloadError(f"payload: field {name!r} has no time zone")
    return value


def _dec(obj: JsonObject, name: str) -> Decimal:
    text = _get(obj, name, str)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise PayloadError(f"payload: field {name!r} is not a decimal") from None


def _list(obj: JsonObject, name: str) -> Sequence[Any]:
    return _get(obj, name, list)  # type: ignore[no-any-return]  # checked by _get


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
    text = _get(obj, "session_date", str)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PayloadError("payload: field 'session_date' is not a date") from None
    opens, closes = _dt(obj, "session_open"), _dt(obj, "session_close")
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
        _get(obj, "symbol", str),
        _dt(obj, "at"),
        _dec(obj, "last"),
        _dec(obj, "prev_close"),
        _dec(obj, "premarket_high"),
        _dec(obj, "premarket_low"),
        _get(obj, "premarket_volume", int),
        _get(obj, "typical_premarket_volume", int),
        _dec(obj, "atr"),
    )
    if snap.prev_close <= 0:
        raise PayloadError("payload: candidate prev_close must be > 0")
    headlines = tuple(
        Headline(_get(h, "id", str), _dt(h, "at"), tuple(_list(h, "symbols")), _get(h, "text", str))
        for h in _list(obj, "catalysts")
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
    text = _get(obj, "side", str)
    try:
        side = Side(text)
    except ValueError:
        raise PayloadError("payload: plan side must be long or short") from None
    return TradePlan(
        key=_get(obj, "key", str),
        symbol=_get(obj, "symbol", str),
        side=side,
        entry=_dec(obj, "entry"),
        stop=_dec(obj, "stop"),
        target=_dec(obj, "target"),
        valid_from=_dt(obj, "valid_from"),
        time_stop_at=_dt(obj, "time_stop_at"),
        flatten_at=_dt(obj, "flatten_at"),
        stop_basis=_get(obj, "stop_basis", str),
    )


# ---- decisions -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Decision:
    """A plan and what risk decided about it: the payload of an execute job."""

    session: Session
    plan: TradePlan
    decision: RiskDecision


def decision_to_json(session: Session, plan: TradePlan, d: RiskDecision) -> dict[str, Any]:
    """The execute job's payload."""
    return {
        **session_to_json(session),
        "plan": plan_to_json(plan),
        "approved": d.approved,
        "quantity": d.quantity,
        "state": d.state.value,
        "risk_amount": str(d.risk_amount),
        "reasons": [{"code": r.code.value, "detail": r.detail} for r in d.reasons],
    }


def decision_from_json(obj: JsonObject) -> Decision:
    """Rebuild an execute job's payload."""
    session = session_from_json(obj)
    plan = plan_from_json(_get(obj, "plan", dict))
    try:
        reasons = tuple(
            RiskReason(RejectCode(_get(r, "code", str)), _get(r, "detail", str))
            for r in _list(obj, "reasons")
        )
        state = TradingState(_get(obj, "state", str))
    except ValueError as exc:
        raise PayloadError(f"payload: {exc}") from None
    approved = _get(obj, "approved", bool)
    quantity = _get(obj, "quantity", int)
    if approved and quantity < 1:
        raise PayloadError("payload: an approved decision needs quantity >= 1")
    decision = RiskDecision(plan.key, approved, quantity, reasons, state, _dec(obj, "risk_amount"))
    return Decision(session, plan, decision)


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


# ---- validation ------------------------------------------------------------------------
def validate(job_type: str, payload: JsonObject) -> None:
    """Check that ``payload`` fits ``job_type``; raises :class:`PayloadError` if not."""
    if job_type not in JOB_TYPES:
        raise PayloadError(f"unknown job type {job_type!r}")
    if job_type == "execute":
        decision_from_json(payload)
        return
    if job_type == "flatten":
        return  # the schedule's flatten names its session; an operator's names none
    session_from_json(payload)
    if job_type == "score":
        for c in _list(payload, "candidates"):
            candidate_from_json(c)
    elif job_type == "plan":
        for c in _list(payload, "ranked"):
            candidate_from_json(c)
    elif job_type == "risk":
        for p in _list(payload, "plans"):
            plan_from_json(p)
    elif job_type == "time_stop" and "symbol" in payload:
        _get(payload, "symbol", str)
