"""Typed job payloads: encode/decode round trips, misfits refused, one job type list."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finagent.app import KNOWN_JOB_TYPES
from finagent.domain.gaps import GapCandidate
from finagent.domain.job_types import (
    ExecuteJob,
    FlattenJob,
    JobType,
    PayloadError,
    PlanJob,
    RankedScore,
    ReportJob,
    RiskJob,
    ScanJob,
    ScoreJob,
    TimeStopJob,
    decode_payload,
    payload_as,
)
from finagent.domain.market import Direction, Headline, Session, Side, Snapshot
from finagent.domain.planning import TradePlan
from finagent.domain.risk import RejectCode, RiskDecision, RiskReason, TradingState
from finagent.domain.schedule import DEFAULT_JOB_TYPES
from finagent.domain.scoring import ScoreComponent, ScoredCandidate
from finagent.services.routing import ROUTES

SYMBOLS = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5)
PRICES = st.decimals(min_value="0.01", max_value="5000", places=2)
ZONES = st.integers(-12, 14).map(lambda h: timezone(timedelta(hours=h)))


@st.composite
def sessions(draw):
    day = draw(st.dates(date(2000, 1, 1), date(2099, 12, 31)))
    opens = datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC).astimezone(draw(ZONES))
    return Session(day, opens, opens + timedelta(minutes=draw(st.integers(1, 900))))


@st.composite
def moments(draw):
    seconds = draw(st.integers(0, 10**9))
    return datetime(2000, 1, 1, tzinfo=UTC).astimezone(draw(ZONES)) + timedelta(seconds=seconds)


@st.composite
def candidates(draw):
    snap = Snapshot(
        draw(SYMBOLS), draw(moments()), draw(PRICES), draw(PRICES), draw(PRICES), draw(PRICES),
        draw(st.integers(0, 10**9)), draw(st.integers(0, 10**9)), draw(PRICES),
    )  # fmt: skip
    headlines = draw(
        st.lists(
            st.builds(Headline, st.text(max_size=8), moments(), st.tuples(SYMBOLS), st.text()),
            max_size=3,
        )
    )
    gap = snap.gap_pct
    direction = Direction.UP if gap > 0 else Direction.DOWN
    return GapCandidate(snap, gap, direction, snap.relative_volume, tuple(headlines))


@st.composite
def plans(draw):
    symbol = draw(SYMBOLS)
    return TradePlan(
        f"20250106-{symbol}", symbol, draw(st.sampled_from(Side)), draw(PRICES), draw(PRICES),
        draw(PRICES), draw(moments()), draw(moments()), draw(moments()), draw(st.text()),
    )  # fmt: skip


@st.composite
def decisions(draw, plan):
    approved = draw(st.booleans())
    quantity = draw(st.integers(1 if approved else 0, 10**6))
    reasons = draw(
        st.lists(st.builds(RiskReason, st.sampled_from(RejectCode), st.text()), max_size=3)
    )
    state = draw(st.sampled_from(TradingState))
    risk = draw(st.decimals(min_value=0, max_value=10**6, places=2))
    return RiskDecision(plan.key, approved, quantity, tuple(reasons), state, risk)


@st.composite
def execute_jobs(draw):
    plan = draw(plans())
    return ExecuteJob(draw(sessions()), plan, draw(decisions(plan)))


FLOATS = st.floats(allow_nan=False, allow_infinity=False)
SCORES = st.builds(
    RankedScore,
    SYMBOLS,
    FLOATS,
    st.dictionaries(st.text(max_size=6), FLOATS, max_size=4).map(lambda d: tuple(d.items())),
)
OPTIONAL_SYMBOL = st.none() | SYMBOLS

PAYLOADS = st.one_of(
    st.builds(ScanJob, sessions(), st.none() | moments()),
    st.builds(ScoreJob, sessions(), st.lists(candidates(), max_size=3).map(tuple)),
    st.builds(
        PlanJob,
        sessions(),
        st.lists(candidates(), max_size=3).map(tuple),
        st.lists(SCORES, max_size=3).map(tuple),
    ),
    st.builds(
        RiskJob,
        sessions(),
        st.lists(plans(), max_size=3).map(tuple),
        st.lists(SYMBOLS, max_size=3).map(tuple),
    ),
    execute_jobs(),
    st.builds(TimeStopJob, sessions(), OPTIONAL_SYMBOL, OPTIONAL_SYMBOL),
    st.just(FlattenJob()),
    st.builds(ReportJob, sessions()),
)


@given(PAYLOADS)
def test_every_payload_survives_the_json_round_trip(payload):
    stored = json.loads(json.dumps(payload.encode()))  # as the database or Redis gives it back
    decoded = decode_payload(payload.TYPE, stored)
    assert decoded == payload
    assert decoded.encode() == stored


def test_a_new_job_carries_the_type_string_and_the_encoded_payload():
    session = Session(date(2025, 1, 6), datetime(2025, 1, 6, 14, 30, tzinfo=UTC),
                      datetime(2025, 1, 6, 21, tzinfo=UTC))  # fmt: skip
    job = ReportJob(session).job("report:2025-01-06", run_at=5.0)
    assert (job.type, job.key, job.run_at) == ("report", "report:2025-01-06", 5.0)
    assert json.dumps(job.type) == '"report"'  # the stored value of a StrEnum is its string
    assert job.payload == {
        "session_date": "2025-01-06",
        "session_open": "2025-01-06T14:30:00+00:00",
        "session_close": "2025-01-06T21:00:00+00:00",
    }


SESSION = Session(date(2025, 1, 6), datetime(2025, 1, 6, 14, 30, tzinfo=UTC),
                  datetime(2025, 1, 6, 21, tzinfo=UTC))  # fmt: skip
SCHEDULED = {  # what the scheduler writes (domain/schedule.py Firing.payload)
    "schedule": "premarket_scan",
    "session_date": "2025-01-06",
    "scheduled_for": "2025-01-06T14:00:00Z",
    "session_open": "2025-01-06T14:30:00Z",
    "session_close": "2025-01-06T21:00:00Z",
    "early_close": False,
}


def test_the_schedulers_payloads_decode_and_its_extra_fields_are_ignored():
    scan = decode_payload("scan", SCHEDULED)
    assert scan == ScanJob(SESSION, datetime(2025, 1, 6, 14, tzinfo=UTC))
    assert decode_payload("time_stop", SCHEDULED) == TimeStopJob(SESSION)  # the sweep
    assert decode_payload("report", SCHEDULED) == ReportJob(SESSION)
    assert decode_payload("scan", {**SCHEDULED, "scheduled_for": None}) == ScanJob(SESSION)


def test_a_flatten_is_never_refused_for_its_payload():
    for payload in ({}, {"at": "2025-01-06T15:00:00Z"}, {**SCHEDULED, "session_open": None}):
        assert decode_payload("flatten", payload) == FlattenJob()
    assert FlattenJob().encode() == {}


def test_scores_and_unplanned_were_never_required_so_may_be_absent():
    base = {**SCHEDULED, "ranked": []}
    assert decode_payload("plan", base) == PlanJob(SESSION, (), ())
    assert decode_payload("risk", {**SCHEDULED, "plans": []}) == RiskJob(SESSION, (), ())


def test_a_ranked_score_keeps_the_points_of_every_component():
    components = (ScoreComponent("gap", 0.2, 0.5, 15.0), ScoreComponent("rvol", 4, 1, 10))
    scored = ScoredCandidate(_candidate(), 52.5, components)
    score = RankedScore.of(scored)
    assert score.encode() == {"symbol": "ABC", "score": 52.5,
                              "components": {"gap": 15.0, "rvol": 10}}  # fmt: skip
    whole = {"symbol": "ABC", "score": 52, "components": {"gap": 15}}  # JSON drops ".0"
    assert RankedScore.decode(whole) == RankedScore("ABC", 52.0, (("gap", 15.0),))


def _candidate():
    snap = Snapshot("ABC", SESSION.open, Decimal("11"), Decimal("10"), Decimal("11"),
                    Decimal("10"), 5, 1, Decimal("0.5"))  # fmt: skip
    return GapCandidate(snap, snap.gap_pct, Direction.UP, snap.relative_volume, ())


NOTICE = {"kind": "order_filled", "level": "info", "key": "k", "title": "t", "body": "b"}
SCORE = {"symbol": "A", "score": 1.5, "components": {"gap": 1.5}}
CANDIDATE = ScoreJob(SESSION, (_candidate(),)).encode()["candidates"][0]
EXECUTE = ExecuteJob(
    SESSION,
    TradePlan(
        "k",
        "ABC",
        Side.LONG,
        Decimal("10"),
        Decimal("9"),
        Decimal("12"),
        SESSION.open,
        SESSION.close,
        SESSION.close,
        "opening_range",
    ),
    RiskDecision("k", True, 10, (), TradingState.ACTIVE, Decimal("10")),
).encode()


@pytest.mark.parametrize(
    ("job_type", "payload", "error"),
    [
        ("nope", {}, "unknown job type 'nope'"),
        ("scan", {}, "missing field 'session_date'"),
        ("scan", "not an object", "missing field"),
        ("scan", {**SCHEDULED, "scheduled_for": "2025-01-06T14:00:00"}, "no time zone"),
        ("scan", {**SCHEDULED, "scheduled_for": 5}, "'scheduled_for' has the wrong type"),
        ("scan", {**SCHEDULED, "scheduled_for": "yesterday"}, "not an ISO time"),
        ("scan", {**SCHEDULED, "session_date": "2025-13-01"}, "'session_date' is not a date"),
        ("scan", {**SCHEDULED, "session_close": "2025-01-06T14:00:00Z"}, "closes before"),
        ("score", {**SCHEDULED, "candidates": [CANDIDATE | {"prev_close": "0"}]}, "prev_close"),
        ("plan", {**SCHEDULED, "ranked": [], "scores": [SCORE | {"score": True}]}, "'score'"),
        ("plan", {**SCHEDULED, "ranked": [], "scores": [SCORE | {"components": []}]}, "'comp"),
        ("risk", {**SCHEDULED, "plans": [], "unplanned": [1]}, "must list symbols"),
        ("execute", {**EXECUTE, "quantity": 0}, "quantity >= 1"),
        ("execute", {**EXECUTE, "state": "sideways"}, "'sideways' is not a valid TradingState"),
        ("execute", {**EXECUTE, "reasons": [{"code": "x", "detail": ""}]}, "valid RejectCode"),
        ("execute", {**EXECUTE, "reasons": [{"code": "size_zero"}]}, "missing field 'detail'"),
        ("execute", {**EXECUTE, "risk_amount": "lots"}, "not a decimal"),
        ("time_stop", {**SCHEDULED, "client_order_id": 7}, "'client_order_id' has the wrong"),
        ("notify", NOTICE | {"kind": "gossip"}, "^payload: 'gossip' is not a valid NoticeKind"),
        ("notify", NOTICE | {"level": "loud"}, "^payload: 'loud' is not a valid Level"),
        ("notify", NOTICE | {"kind": 7}, "^payload: field 'kind' has the wrong"),
    ],
)
def test_a_payload_that_does_not_fit_its_type_is_a_payload_error(job_type, payload, error):
    with pytest.raises(PayloadError, match=error):
        decode_payload(job_type, payload)


def test_a_payload_of_another_type_is_refused_by_the_handler_that_expects_one():
    report = ReportJob(SESSION)
    assert payload_as(report, ReportJob) is report
    with pytest.raises(PayloadError, match="expected a scan payload, got report"):
        payload_as(report, ScanJob)


def test_the_job_types_are_listed_once_and_every_one_has_a_route():
    assert set(ROUTES) == set(JobType)
    every = {"scan", "score", "plan", "risk", "execute", "time_stop", "flatten", "report"}
    assert every == KNOWN_JOB_TYPES
    assert DEFAULT_JOB_TYPES <= KNOWN_JOB_TYPES
    assert ROUTES[JobType.FLATTEN] == ROUTES["time_stop"] == "execution"  # a StrEnum hashes as str
