"""The Metrics families: exact names, isolation, helpers."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from finagent.domain.jobs import JobStatus, QueueStats
from finagent.observability.metrics import TRADING_STATES, Metrics

# The names dashboards, alerts and scripts rely on (issue 6), as sample names.
REQUIRED_SAMPLES = {
    "finagent_job_latency_seconds_bucket": ("type",),
    "finagent_jobs_enqueued_total": ("type",),
    "finagent_jobs_completed_total": ("type",),
    "finagent_jobs_failed_total": ("type",),
    "finagent_jobs_dead_total": ("type",),
    "finagent_queue_depth": ("status",),
    "finagent_queue_oldest_pending_seconds": (),
    "finagent_api_requests_total": ("port", "endpoint", "outcome"),
    "finagent_api_retries_total": ("port", "endpoint", "outcome"),
    "finagent_scan_duration_seconds_bucket": (),
    "finagent_scan_candidates": (),
    "finagent_actor_restarts_total": ("actor",),
    "finagent_actor_up": ("actor",),
    "finagent_event_loop_lag_seconds": (),
    "finagent_sqlite_commit_batch_size_bucket": (),
    "finagent_sqlite_commit_seconds_bucket": (),
    "finagent_orders_total": ("side", "status"),
    "finagent_realized_pnl": (),
    "finagent_trading_state": ("finagent_trading_state",),
    "finagent_build_info": ("version",),
    "finagent_schedule_skipped_total": ("entry",),
    "finagent_clock_steps_total": ("direction",),
}


def _touch_every_family(m: Metrics) -> None:
    m.job_latency.labels("scan").observe(0.2)
    for family in (m.jobs_enqueued, m.jobs_completed, m.jobs_failed, m.jobs_dead):
        family.labels("scan").inc()
    m.update_queue_gauges(
        QueueStats(counts={("scan", JobStatus.PENDING): 3}, oldest_pending_age_s=4)
    )
    m.api_requests.labels("market", "bars", "ok").inc()
    m.api_retries.labels("market", "bars", "timeout").inc()
    m.scan_duration.observe(0.05)
    m.scan_candidates.set(4)
    m.actor_restarts.labels("scanner").inc()
    m.actor_up.labels("scanner").set(1)
    m.event_loop_lag.set(0.002)
    m.sqlite_commit_batch_size.observe(12)
    m.sqlite_commit_seconds.observe(0.0004)
    m.orders.labels("buy", "filled").inc()
    m.realized_pnl.set(-12.5)
    m.trading_state.state("trading")
    m.schedule_skipped.labels("premarket_scan").inc()
    m.count_clock_step(600.0)


def _samples(m: Metrics) -> dict[str, list]:
    text = generate_latest(m.registry).decode()
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def test_every_required_name_is_exposed_with_its_labels():
    m = Metrics(version="1.2.3")
    _touch_every_family(m)
    samples = _samples(m)
    for name, labels in REQUIRED_SAMPLES.items():
        assert name in samples, name
        extra = {"le"} if name.endswith("_bucket") else set()
        assert {tuple(sorted(set(s.labels) - extra)) for s in samples[name]} == {
            tuple(sorted(labels))
        }, name


def test_build_info_reports_the_version():
    (sample,) = _samples(Metrics(version="9.9"))["finagent_build_info"]
    assert sample.labels == {"version": "9.9"} and sample.value == 1


def test_two_instances_never_share_a_counter():
    a, b = Metrics(), Metrics()
    a.jobs_completed.labels("plan").inc(5)
    assert a.registry.get_sample_value("finagent_jobs_completed_total", {"type": "plan"}) == 5
    assert b.registry.get_sample_value("finagent_jobs_completed_total", {"type": "plan"}) is None


def test_queue_gauges_cover_every_status_and_sum_over_types():
    m = Metrics()
    stats = QueueStats(
        counts={
            ("scan", JobStatus.PENDING): 2,
            ("plan", JobStatus.PENDING): 3,
            ("plan", JobStatus.RUNNING): 1,
        },
        oldest_pending_age_s=7.5,
    )
    m.update_queue_gauges(stats)
    depth = {
        s: m.registry.get_sample_value("finagent_queue_depth", {"status": s}) for s in JobStatus
    }
    assert depth == {"pending": 5, "running": 1, "done": 0, "dead": 0}
    assert m.registry.get_sample_value("finagent_queue_oldest_pending_seconds") == 7.5
    m.update_queue_gauges(QueueStats(counts={}, oldest_pending_age_s=None))
    assert m.registry.get_sample_value("finagent_queue_oldest_pending_seconds") == 0


def test_trading_state_is_one_hot():
    m = Metrics()
    m.trading_state.state("loss_limit_hit")
    states = {
        s: m.registry.get_sample_value("finagent_trading_state", {"finagent_trading_state": s})
        for s in TRADING_STATES
    }
    assert states == {s: float(s == "loss_limit_hit") for s in TRADING_STATES}
    with pytest.raises(ValueError):
        m.trading_state.state("yolo")


def test_commit_buckets_resolve_microseconds_and_scan_buckets_seconds():
    m = Metrics()
    m.sqlite_commit_seconds.observe(0.00007)
    m.scan_duration.observe(3.0)
    commit = m.registry.get_sample_value("finagent_sqlite_commit_seconds_bucket", {"le": "0.0001"})
    scan_low = m.registry.get_sample_value("finagent_scan_duration_seconds_bucket", {"le": "2.5"})
    scan_high = m.registry.get_sample_value("finagent_scan_duration_seconds_bucket", {"le": "5.0"})
    assert (commit, scan_low, scan_high) == (1, 0, 1)


def test_process_collectors_are_optional():
    assert "process_cpu_seconds_total" in _samples(Metrics())
    assert not [n for n in _samples(Metrics(process_collectors=False)) if n.startswith("process_")]


def test_clock_steps_are_counted_by_direction():
    m = Metrics()
    assert m.registry.get_sample_value("finagent_clock_steps_total", {"direction": "forward"}) == 0
    for step_s in (600.0, -300.0, 2.5):
        m.count_clock_step(step_s)
    value = m.registry.get_sample_value
    assert value("finagent_clock_steps_total", {"direction": "forward"}) == 2
    assert value("finagent_clock_steps_total", {"direction": "backward"}) == 1
