"""The pipeline's job types and one frozen payload type per job type, with its JSON round trip.

The data path, one job per step, each completed together with the next step's jobs::

    scan     schedule:premarket_scan:<date>  (or scan:<date>)  -> score:<date>
    score    score:<date>      every scan candidate            -> plan:<date> (delayed)
    plan     plan:<date>       the ranked top N, run at open + range -> risk:<date>
    risk     risk:<date>       every plan drawn                -> execute:<date>:<symbol>
    execute  execute:<date>:<symbol>  one risk decision        -> time_stop:<date>:<symbol>
    time_stop / flatten / report: per symbol (delayed) or from the schedule (a sweep)
    notify   notify:<event>    one event for the operator      -> notify:<event>:<destination>

Scoring, planning and risk take the whole session's list in one job: ranking cuts across
candidates and risk limits count across plans, so one job gives the same decisions however
often a step crashes and retries. ``encode`` gives the JSON object stored with the job (the
same fields as before the payloads were typed, so stored jobs keep working); ``decode`` and
:func:`decode_payload` raise :class:`PayloadError` (never retryable) on a payload that does not
fit its type. Decoders ignore fields they do not know: the scheduler adds its own (``schedule``,
``early_close``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeAlias, TypeVar

from finagent.domain.jobs import NewJob
from finagent.domain.notify import Level, Notice, NoticeKind
from finagent.domain.pipeline import (
    candidate_from_json,
    candidate_to_json,
    plan_from_json,
    plan_to_json,
    session_from_json,
    session_to_json,
)
from finagent.domain.risk import RejectCode, RiskDecision, RiskReason, TradingState
from finagent.domain.wire import JsonObject, PayloadError, read, read_decimal, read_list, read_time

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from finagent.domain.gaps import GapCandidate
    from finagent.domain.market import Session
    from finagent.domain.planning import TradePlan
    from finagent.domain.scoring import ScoredCandidate

__all__ = [
    "ExecuteJob",
    "FlattenJob",
    "JobPayload",
    "JobType",
    "NotifyJob",
    "PayloadError",
    "PlanJob",
    "RankedScore",
    "ReportJob",
    "RiskJob",
    "ScanJob",
    "ScoreJob",
    "TimeStopJob",
    "decode_payload",
    "payload_as",
]


class JobType(StrEnum):
    """Every job type; the values are what the database and Redis store."""

    SCAN = "scan"
    SCORE = "score"
    PLAN = "plan"
    RISK = "risk"
    EXECUTE = "execute"
    TIME_STOP = "time_stop"
    FLATTEN = "flatten"
    REPORT = "report"
    NOTIFY = "notify"


class _Payload:
    """What every payload type shares: its job type and how to wrap it in a new job."""

    __slots__ = ()
    TYPE: ClassVar[JobType]

    def encode(self) -> dict[str, Any]:
        """The JSON object stored with the job."""
        raise AssertionError(f"{type(self).__name__} must define encode()")

    def job(self, key: str, *, run_at: float | None = None) -> NewJob:
        """A new job of this payload's type, keyed ``key``, due at ``run_at`` (None: now)."""
        return NewJob(self.TYPE, key, self.encode(), run_at=run_at)


@dataclass(frozen=True, slots=True)
class ScanJob(_Payload):
    """Scan the universe for the session as of ``scheduled_for`` (None: when it runs)."""

    TYPE: ClassVar[JobType] = JobType.SCAN
    session: Session
    scheduled_for: datetime | None = None

    def encode(self) -> dict[str, Any]:
        """The session, and the scheduled time if there is one."""
        out = session_to_json(self.session)
        if self.scheduled_for is not None:
            out["scheduled_for"] = self.scheduled_for.isoformat()
        return out

    @classmethod
    def decode(cls, payload: JsonObject) -> Self:
        """Rebuild a scan job's payload (the scheduler's, or an operator's without a time)."""
        session = session_from_json(payload)
        when = None if payload.get("scheduled_for") is None else read_time(payload, "scheduled_for")
        return cls(session, when)


@dataclass(frozen=True, slots=True)
class ScoreJob(_Payload):
    """Rank the session's scan candidates."""

    TYPE: ClassVar[JobType] = JobType.SCORE
    session: Session
    candidates: tuple[GapCandidate, ...]

    def encode(self) -> dict[str, Any]:
        """The session and every candidate with its catalysts."""
        return {
            **session_to_json(self.session),
            "candidates": [candidate_to_json(c) for c in self.candidates],
        }

    @classmethod
    def decode(cls, payload: JsonObject) -> Self:
        """Rebuild a score job's payload."""
        session = session_from_json(payload)
        return cls(session, tuple(candidate_from_json(c) for c in read_list(payload, "candidates")))


@dataclass(frozen=True, slots=True)
class RankedScore:
    """A candidate's score as the job trail and the report keep it: the points, not the raws."""

    symbol: str
    score: float
    components: tuple[tuple[str, float], ...]

    @classmethod
    def of(cls, scored: ScoredCandidate) -> Self:
        """The score of a ranked candidate."""
        return cls(
            scored.symbol, scored.score, tuple((c.name, c.points) for c in scored.components)
        )

    def encode(self) -> dict[str, Any]:
        """``{"symbol", "score", "components": {name: points}}``."""
        return {"symbol": self.symbol, "score": self.score, "components": dict(self.components)}

    @classmethod
    def decode(cls, obj: JsonObject) -> Self:
        """Rebuild a score; JSON may give a whole number as an int."""
        components = read(obj, "components", dict)
        points = tuple((name, _number(components, name)) for name in components)
        return cls(read(obj, "symbol", str), _number(obj, "score"), points)


def _number(obj: JsonObject, name: str) -> float:
    value = read(obj, name, (int, float))
    if isinstance(value, bool):
        raise PayloadError(f"payload: field {name!r} has the wrong type")
    return float(value)


@dataclass(frozen=True, slots=True)
class PlanJob(_Payload):
    """Draw plans for the ranked candidates, in rank order (``scores`` is for the trail)."""

    TYPE: ClassVar[JobType] = JobType.PLAN
    session: Session
    ranked: tuple[GapCandidate, ...]
    scores: tuple[RankedScore, ...] = ()

    def encode(self) -> dict[str, Any]:
        """The session, the ranked candidates and their scores."""
        return {
            **session_to_json(self.session),
            "ranked": [candidate_to_json(c) for c in self.ranked],
            "scores": [s.encode() for s in self.scores],
        }

    @classmethod
    def decode(cls, payload: JsonObject) -> Self:
        """Rebuild a plan job's payload; the scores were never required, so may be absent."""
        session = session_from_json(payload)
        ranked = tuple(candidate_from_json(c) for c in read_list(payload, "ranked"))
        scores = () if "scores" not in payload else read_list(payload, "scores")
        return cls(session, ranked, tuple(RankedScore.decode(s) for s in scores))


@dataclass(frozen=True, slots=True)
class RiskJob(_Payload):
    """Assess the session's plans in rank order; ``unplanned`` names the ranked left without."""

    TYPE: ClassVar[JobType] = JobType.RISK
    session: Session
    plans: tuple[TradePlan, ...]
    unplanned: tuple[str, ...] = ()

    def encode(self) -> dict[str, Any]:
        """The session, every plan drawn and the symbols without one."""
        return {
            **session_to_json(self.session),
            "plans": [plan_to_json(p) for p in self.plans],
            "unplanned": list(self.unplanned),
        }

    @classmethod
    def decode(cls, payload: JsonObject) -> Self:
        """Rebuild a risk job's payload; ``unplanned`` was never required, so may be absent."""
        session = session_from_json(payload)
        plans = tuple(plan_from_json(p) for p in read_list(payload, "plans"))
        names = () if "unplanned" not in payload else read_list(payload, "unplanned")
        if not all(isinstance(n, str) for n in names):
            raise PayloadError("payload: field 'unplanned' must list symbols")
        return cls(session, plans, tuple(names))


@dataclass(frozen=True, slots=True)
class ExecuteJob(_Payload):
    """A plan and what risk decided about it: the order intent, stored before anything is sent."""

    TYPE: ClassVar[JobType] = JobType.EXECUTE
    session: Session
    plan: TradePlan
    decision: RiskDecision

    def encode(self) -> dict[str, Any]:
        """The session, the plan and the decision (approved + quantity, or every reason)."""
        d = self.decision
        return {
            **session_to_json(self.session),
            "plan": plan_to_json(self.plan),
            "approved": d.approved,
            "quantity": d.quantity,
            "state": d.state.value,
            "risk_amount": str(d.risk_amount),
            "reasons": [{"code": r.code.value, "detail": r.detail} for r in d.reasons],
        }

    @classmethod
    def decode(cls, payload: JsonObject) -> Self:
        """Rebuild an execute job's payload; an approval without shares is refused."""
        session = session_from_json(payload)
        plan = plan_from_json(read(payload, "plan", dict))
        try:
            reasons = tuple(
                RiskReason(RejectCode(read(r, "code", str)), read(r, "detail", str))
                for r in read_list(payload, "reasons")
            )
            state = TradingState(read(payload, "state", str))
        except ValueError as exc:
            if isinstance(exc, PayloadError):
                raise
            raise PayloadError(f"payload: {exc}") from None
        approved = read(payload, "approved", bool)
        quantity = read(payload, "quantity", int)
        if approved and quantity < 1:
            raise PayloadError("payload: an approved decision needs quantity >= 1")
        risk_amount = read_decimal(payload, "risk_amount")
        return cls(
            session, plan, RiskDecision(plan.key, approved, quantity, reasons, state, risk_amount)
        )


@dataclass(frozen=True, slots=True)
class TimeStopJob(_Payload):
    """Close one symbol's order (``client_order_id`` set), or the sweep: cancel working entries."""

    TYPE: ClassVar[JobType] = JobType.TIME_STOP
    session: Session
    symbol: str | None = None
    client_order_id: str | None = None

    def encode(self) -> dict[str, Any]:
        """The session, and the symbol and order of a per-symbol time stop."""
        out = session_to_json(self.session)
        if self.symbol is not None:
            out["symbol"] = self.symbol
        if self.client_order_id is not None:
            out["client_order_id"] = self.client_order_id
        return out

    @classmethod
    def decode(cls, payload: JsonObject) -> Self:
        """Rebuild a time stop's payload (the scheduler's sweep carries neither symbol nor id)."""
        session = session_from_json(payload)
        return cls(
            session, _optional_str(payload, "symbol"), _optional_str(payload, "client_order_id")
        )


def _optional_str(payload: JsonObject, name: str) -> str | None:
    if payload.get(name) is None:
        return None
    value: str = read(payload, name, str)
    return value


@dataclass(frozen=True, slots=True)
class FlattenJob(_Payload):
    """Close every position. No fields on purpose: a flatten is never refused for its payload.

    The schedule's flatten names its session, an operator's (``finagent halt --flatten``) only
    when it was asked; neither is read, since closing everything needs neither.
    """

    TYPE: ClassVar[JobType] = JobType.FLATTEN

    def encode(self) -> dict[str, Any]:
        """An empty object."""
        return {}

    @classmethod
    def decode(cls, payload: JsonObject) -> Self:
        """Any payload: see the class docstring."""
        return cls()


@dataclass(frozen=True, slots=True)
class ReportJob(_Payload):
    """Build and store the session's daily report."""

    TYPE: ClassVar[JobType] = JobType.REPORT
    session: Session

    def encode(self) -> dict[str, Any]:
        """The session."""
        return session_to_json(self.session)

    @classmethod
    def decode(cls, payload: JsonObject) -> Self:
        """Rebuild a report job's payload."""
        return cls(session_from_json(payload))


@dataclass(frozen=True, slots=True)
class NotifyJob(_Payload):
    """One notice for the operator; ``destination`` None means every destination that wants it.

    The notifier completes a destination-less job with one job per destination
    (``notify:<event>:<name>``), so each destination retries, or ends dead, on its own.
    """

    TYPE: ClassVar[JobType] = JobType.NOTIFY
    notice: Notice
    destination: str | None = None

    def encode(self) -> dict[str, Any]:
        """The notice's fields, and the destination when there is one."""
        n = self.notice
        out: dict[str, Any] = {
            "kind": n.kind.value, "level": n.level.value, "key": n.key, "title": n.title,
            "body": n.body,
        }  # fmt: skip
        if self.destination is not None:
            out["destination"] = self.destination
        return out

    @classmethod
    def decode(cls, payload: JsonObject) -> Self:
        """Rebuild a notify job's payload; an unknown kind or level is refused."""
        try:
            kind = NoticeKind(read(payload, "kind", str))
            level = Level(read(payload, "level", str))
        except ValueError as exc:
            if isinstance(exc, PayloadError):
                raise
            raise PayloadError(f"payload: {exc}") from None
        notice = Notice(
            kind, level, read(payload, "key", str), read(payload, "title", str),
            read(payload, "body", str),
        )  # fmt: skip
        return cls(notice, _optional_str(payload, "destination"))


#: Every payload type; a handler narrows it with :func:`payload_as` or a ``match``.
JobPayload: TypeAlias = (
    ScanJob | ScoreJob | PlanJob | RiskJob | ExecuteJob | TimeStopJob | FlattenJob | ReportJob
    | NotifyJob
)  # fmt: skip

_DECODERS: Mapping[JobType, Callable[[JsonObject], JobPayload]] = {
    JobType.SCAN: ScanJob.decode,
    JobType.SCORE: ScoreJob.decode,
    JobType.PLAN: PlanJob.decode,
    JobType.RISK: RiskJob.decode,
    JobType.EXECUTE: ExecuteJob.decode,
    JobType.TIME_STOP: TimeStopJob.decode,
    JobType.FLATTEN: FlattenJob.decode,
    JobType.REPORT: ReportJob.decode,
    JobType.NOTIFY: NotifyJob.decode,
}


def decode_payload(job_type: str, payload: JsonObject) -> JobPayload:
    """The typed payload of a stored job.

    Raises:
        PayloadError: the type is unknown, or the payload does not fit it.
    """
    try:
        kind = JobType(job_type)
    except ValueError:
        raise PayloadError(f"unknown job type {job_type!r}") from None
    return _DECODERS[kind](payload)


P = TypeVar("P", bound=_Payload)


def payload_as(payload: JobPayload, kind: type[P]) -> P:
    """``payload`` as a ``kind``: a job routed to a handler that does not take it is refused.

    Raises:
        PayloadError: ``payload`` is of another type (the job goes to dead).
    """
    if not isinstance(payload, kind):
        raise PayloadError(f"expected a {kind.TYPE} payload, got {payload.TYPE}")
    return payload
