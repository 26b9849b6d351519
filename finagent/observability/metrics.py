"""Every Prometheus metric finagent exposes, in one :class:`Metrics` object per daemon.

The families live in a :class:`~prometheus_client.CollectorRegistry` of their own, never the
global one, so two daemons (or two tests) in one process never share a counter. Names are a
contract: dashboards, alert rules and scripts in ``monitoring/`` use them as written here.

Hot paths touch a family directly, which is a dict lookup and a locked add::

    metrics.jobs_completed.labels(job.type).inc()
    metrics.job_latency.labels(job.type).observe(now - job.run_at)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from finagent.domain.jobs import JobStatus

if TYPE_CHECKING:
    from finagent.domain.jobs import QueueStats

__all__ = [
    "COMMIT_BATCH_BUCKETS",
    "COMMIT_SECONDS_BUCKETS",
    "JOB_LATENCY_BUCKETS",
    "JOB_WAIT_BUCKETS",
    "SCAN_SECONDS_BUCKETS",
    "TRADING_STATES",
    "Metrics",
]

# due → completion spans a hop through several actors: 5 ms .. 5 min.
JOB_LATENCY_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip
# creation → due: 0 for most jobs, ~35 min for a plan (the opening range), hours for a time stop.
JOB_WAIT_BUCKETS: Final = (
    1.0, 10.0, 60.0, 300.0, 900.0, 1800.0, 2700.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
)  # fmt: skip
# A group commit in WAL mode with synchronous=NORMAL: tens of µs up to a few ms.
COMMIT_SECONDS_BUCKETS: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
)  # fmt: skip
COMMIT_BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# A scan of a few thousand symbols: milliseconds (sim) to seconds (HTTP feed).
SCAN_SECONDS_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip

TRADING_STATES: Final = ("idle", "trading", "flattening", "loss_limit_hit", "halted", "degraded")
"""Values of ``finagent_trading_state``; ``loss_limit_hit`` means the daily loss limit stopped
new entries for the day, ``degraded`` that the store cannot commit (no new entries)."""


class Metrics:
    """All metric families of one daemon, registered in :attr:`registry`."""

    def __init__(self, version: str = "unknown", *, process_collectors: bool = True) -> None:
        """Create the registry and every family.

        Args:
            version: reported as ``finagent_build_info{version=...}``.
            process_collectors: also expose ``process_*``, ``python_info`` and
                ``python_gc_*`` (read from /proc and the interpreter at scrape time).
        """
        r = self.registry = CollectorRegistry()
        if process_collectors:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            if GC_COLLECTOR is not None:  # pragma: no branch  # None only on non-CPython
                GCCollector(registry=r)

        self.build_info = Info("finagent_build", "finagent version running.", registry=r)
        self.build_info.info({"version": version})

        # Jobs: counters by type, latency from due time to completion, the wait before it.
        self.job_latency = Histogram(
            "finagent_job_latency_seconds",
            "Seconds from when a job fell due (run_at) to its completion, by job type.",
            ["type"],
            buckets=JOB_LATENCY_BUCKETS,
            registry=r,
        )
        self.job_wait = Histogram(
            "finagent_job_wait_seconds",
            "Seconds from a completed job's creation to when it fell due (its delay), by type.",
            ["type"],
            buckets=JOB_WAIT_BUCKETS,
            registry=r,
        )
        self.jobs_enqueued = Counter(
            "finagent_jobs_enqueued_total",
            "New jobs stored (not idempotent re-enqueues of a known key), by type.",
            ["type"],
            registry=r,
        )
        self.jobs_completed = Counter(
            "finagent_jobs_completed_total", "Jobs completed, by type.", ["type"], registry=r
        )
        self.jobs_failed = Counter(
            "finagent_jobs_failed_total",
            "Job attempts that failed (retried or dead), by type.",
            ["type"],
            registry=r,
        )
        self.jobs_dead = Counter(
            "finagent_jobs_dead_total",
            "Jobs that failed past max_attempts, by type.",
            ["type"],
            registry=r,
        )

        # Queue state, refreshed from QueueStats by update_queue_gauges().
        self.queue_depth = Gauge(
            "finagent_queue_depth", "Jobs in the queue, by status.", ["status"], registry=r
        )
        self.queue_oldest_pending = Gauge(
            "finagent_queue_oldest_pending_seconds",
            "Age of the oldest due pending job (0 when none).",
            registry=r,
        )

        # External APIs (market data, news, broker).
        api_labels = ["port", "endpoint", "outcome"]
        self.api_requests = Counter(
            "finagent_api_requests_total", "Calls to external APIs.", api_labels, registry=r
        )
        self.api_retries = Counter(
            "finagent_api_retries_total", "Retries of external API calls.", api_labels, registry=r
        )

        # Scanner.
        self.scan_duration = Histogram(
            "finagent_scan_duration_seconds",
            "Wall time of one gap scan.",
            buckets=SCAN_SECONDS_BUCKETS,
            registry=r,
        )
        self.scan_candidates = Gauge(
            "finagent_scan_candidates", "Gap candidates found by the last scan.", registry=r
        )

        # Actor runtime (fed by ActorObserver).
        self.actor_restarts = Counter(
            "finagent_actor_restarts_total", "Actor restarts, by actor.", ["actor"], registry=r
        )
        self.actor_up = Gauge(
            "finagent_actor_up", "1 while the actor runs, 0 otherwise.", ["actor"], registry=r
        )
        self.event_loop_lag = Gauge(
            "finagent_event_loop_lag_seconds",
            "Last event-loop lag measured by the watchdog.",
            registry=r,
        )

        # SQLite persistence (group commit).
        self.sqlite_commit_batch_size = Histogram(
            "finagent_sqlite_commit_batch_size",
            "Requests committed per SQLite transaction.",
            buckets=COMMIT_BATCH_BUCKETS,
            registry=r,
        )
        self.sqlite_commit_seconds = Histogram(
            "finagent_sqlite_commit_seconds",
            "Seconds per SQLite group commit.",
            buckets=COMMIT_SECONDS_BUCKETS,
            registry=r,
        )

        # Trading.
        self.orders = Counter(
            "finagent_orders_total", "Broker orders, by side and status.", ["side", "status"],
            registry=r,
        )  # fmt: skip
        self.realized_pnl = Gauge(
            "finagent_realized_pnl", "Realized P&L of the current session (account currency).",
            registry=r,
        )  # fmt: skip
        self.trading_state = Enum(
            "finagent_trading_state",
            "What the agent may do now.",
            states=list(TRADING_STATES),
            registry=r,
        )
        self.market_open = Gauge(
            "finagent_market_open",
            "1 while the exchange's regular session is open (calendar and daemon clock), else 0.",
            registry=r,
        )
        self.duplicate_orders = Gauge(
            "finagent_duplicate_orders",
            "Duplicate orders the broker holds for the last reported session (its own records).",
            registry=r,
        )
        # Storage faults (the writer holds and retries; trading is degraded meanwhile).
        self.store_degraded = Gauge(
            "finagent_store_degraded",
            "1 while the job store cannot commit (disk full, I/O error, locked, read-only).",
            registry=r,
        )
        self.store_faults = Counter(
            "finagent_store_faults_total",
            "Storage faults that degraded the daemon, by reason.",
            ["reason"],
            registry=r,
        )
        self.schedule_skipped = Counter(
            "finagent_schedule_skipped_total",
            "Schedule firings skipped (missed past their grace), by entry.",
            ["entry"],
            registry=r,
        )
        self.broker_flattens = Counter(
            "finagent_broker_flattens_total",
            "Flattens made at the broker alone because the daemon was degraded at flatten time.",
            registry=r,
        )
        self.database_faults = Counter(
            "finagent_database_faults_total",
            "Faults of the database file itself: deleted, replaced, fresh_database.",
            ["fault"],
            registry=r,
        )
        self.notifications = Counter(
            "finagent_notifications_total",
            "Notifications by destination, kind and outcome (delivered, failed: retried, "
            "rejected: dead, held: collapsed into a summary, dropped: outbox full).",
            ["destination", "kind", "outcome"],
            registry=r,
        )
        self.clock_steps = Counter(
            "finagent_clock_steps_total",
            "Wall-clock steps detected (1 s or more off monotonic progress), by direction.",
            ["direction"],
            registry=r,
        )
        for direction in ("forward", "backward"):  # exposed at 0, so increase() sees the first
            self.clock_steps.labels(direction)

    def count_enqueued(self, job_type: str) -> None:
        """Count one new job of ``job_type`` (``finagent_jobs_enqueued_total``)."""
        self.jobs_enqueued.labels(job_type).inc()

    def count_clock_step(self, step_s: float) -> None:
        """Count one wall-clock step of ``step_s`` seconds (negative: backward)."""
        self.clock_steps.labels("forward" if step_s > 0 else "backward").inc()

    def update_queue_gauges(self, stats: QueueStats) -> None:
        """Set ``finagent_queue_depth{status}`` and the oldest-pending age from ``stats``."""
        for status in JobStatus:
            self.queue_depth.labels(status.value).set(stats.total(status))
        self.queue_oldest_pending.set(stats.oldest_pending_age_s or 0.0)
