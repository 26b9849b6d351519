"""Composition root: picks the adapters from settings and builds the supervision tree.

This is the only module that knows concrete adapters. ``cli.py`` calls
:func:`run_daemon_blocking`; tests call :func:`run_daemon` under their own ``trio.run``.
"""

from __future__ import annotations

import logging
import signal
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from actors import (
    Backoff,
    ChildSpec,
    Observer,
    Restart,
    Strategy,
    SupervisorSpec,
    open_supervisor,
)
from actors.watchdog import watchdog_factory
from finagent import __version__
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.app.alpaca import BrokerSetupError, check_trading_settings
from finagent.app.live_checks import LoopLagCheck
from finagent.app.notify import (
    alert_route,
    notify_children,
    notify_started,
    notify_stopping,
    register_notify_secrets,
)
from finagent.app.options import DaemonOptions
from finagent.app.parts import CountingObserver, DaemonProbe, Parts
from finagent.app.wiring import open_parts
from finagent.domain.errors import FinagentError
from finagent.domain.job_types import JobType
from finagent.domain.schedule import EntryValues, ScheduleError, apply_at_overrides
from finagent.observability import (
    ActorObserver,
    ActorReadiness,
    Metrics,
    Readiness,
    configure_logging,
    register_secret,
)
from finagent.observability.health import run_live_checks
from finagent.services.db_watch import stop_safely
from finagent.services.heartbeat import Heartbeat
from finagent.services.http import serve_http
from finagent.services.schedule_plan import check_exchange, check_zone, compile_entries

if TYPE_CHECKING:
    from collections.abc import Sequence

    from finagent.settings import Settings

__all__ = [
    "KNOWN_JOB_TYPES",
    "DaemonOptions",
    "DaemonProbe",
    "StartupError",
    "StoppedSafely",
    "run_daemon",
    "run_daemon_blocking",
    "run_worker_blocking",
    "validate",
]

log = logging.getLogger(__name__)

#: Every job type a schedule entry may name (a notify job comes from an event, not a schedule).
KNOWN_JOB_TYPES = frozenset(JobType) - {JobType.NOTIFY}

EXIT_FORCED = 130


class StartupError(FinagentError):
    """The daemon cannot start; the message is one line naming what is wrong."""


class StoppedSafely(FinagentError):
    """A fault stopped the daemon after it stopped safely at the broker; one line: the fault."""


def schedule_values(settings: Settings, at_overrides: Sequence[str] = ()) -> dict[str, EntryValues]:
    """The schedule entries as plain values, with ``--at NAME=SPEC`` overrides applied."""
    values = {
        name: EntryValues(
            job_type=e.job_type,
            cron=e.cron,
            at=e.at,
            tz=e.tz,
            sessions_only=e.sessions_only,
            grace_s=e.grace_s,
        )
        for name, e in settings.schedule.items()
    }
    return dict(apply_at_overrides(values, at_overrides))


def validate(settings: Settings, at_overrides: Sequence[str] = ()) -> None:
    """Check what the settings model cannot: zones, the exchange calendar and the schedule.

    Raises:
        StartupError: one line naming the key at fault.
    """
    try:
        check_zone(settings.exchange.timezone, "exchange.timezone")
        check_zone(settings.exchange.display_timezone, "exchange.display_timezone")
        calendar = XcalsExchangeCalendar(settings.exchange.calendar)
        check_exchange(calendar, settings.exchange.timezone)
        compile_entries(
            schedule_values(settings, at_overrides),
            known_job_types=KNOWN_JOB_TYPES,
            exchange_tz=settings.exchange.timezone,
        )
    except ScheduleError as exc:
        raise StartupError(str(exc)) from None
    try:
        check_trading_settings(settings)
    except BrokerSetupError as exc:
        raise StartupError(str(exc)) from None


def _supervisor_spec(
    settings: Settings, observer: Observer, parts: Parts, options: DaemonOptions
) -> SupervisorSpec:
    scheduler, beat_s = options.scheduler, options.beat_s
    sup = settings.supervision
    backoff = Backoff(base=sup.backoff_base_s, max=sup.backoff_max_s)
    services = SupervisorSpec(
        "services",
        [ChildSpec(name, stage.run, mailbox_size=256) for name, stage in parts.stages.items()]
        + [ChildSpec("trading_watch", parts.watch.run, shutdown_timeout=1.0)]
        + notify_children(parts.notify),
        strategy=Strategy.ONE_FOR_ONE,
        max_restarts=max(sup.max_restarts, parts.restart_allowance),
        max_seconds=sup.max_seconds,
        backoff=backoff,
    )
    children: list[ChildSpec[Any] | SupervisorSpec] = [
        ChildSpec("persistence", parts.persistence, shutdown_timeout=1.0),
        ChildSpec("dispatcher", parts.dispatch, shutdown_timeout=1.0),
        services,
    ]
    if scheduler:
        body = parts.scheduler_actor or parts.scheduler.run
        children.append(ChildSpec("scheduler", body, shutdown_timeout=1.0))
        # Beside the scheduler: one process guards the day's flatten (open_parts always builds it).
        assert parts.flatten_guard is not None
        children.append(ChildSpec("flatten_guard", parts.flatten_guard.run, shutdown_timeout=0.0))
    if parts.housekeeping is not None:
        children.append(ChildSpec("housekeeping", parts.housekeeping, shutdown_timeout=1.0))
    if parts.broker_probe is not None:  # a read-only call: cancelling it at once is clean
        children.append(ChildSpec("broker_probe", parts.broker_probe.run, shutdown_timeout=0.0))
    if parts.db_watch is not None:
        # It only stats a path: cancelling it at once is a clean stop.
        children.append(ChildSpec("db_watch", parts.db_watch.run, shutdown_timeout=0.0))
    children += [
        ChildSpec(
            "heartbeat", Heartbeat(interval_s=max(30.0, beat_s)).run, restart=Restart.PERMANENT
        ),
        # The watchdog holds no state: cancelling it at once is a clean stop.
        ChildSpec("watchdog", watchdog_factory(observer, beat_s), shutdown_timeout=0.0),
    ]
    return SupervisorSpec(
        "root",
        children,
        strategy=Strategy.REST_FOR_ONE,
        max_restarts=sup.max_restarts,
        max_seconds=sup.max_seconds,
        backoff=backoff,
    )


def _declared_readiness(observer: CountingObserver, parts: Parts, *, scheduler: bool) -> Readiness:
    """/readyz from what the actors declared (``ctx.started()``), never from having spawned them.

    recovery: the writer recovered leases, the stages recovered (execution reconciled with the
    broker), the dispatcher routes and the trading state is loaded; db_writable: the writer
    serves; scheduler: armed (caught up), or contending for the leader lock on Redis.
    """
    owners = {"recovery": ["persistence", "dispatcher", "trading_watch", *parts.stages]}
    if scheduler:
        owners["scheduler"] = ["scheduler"]
    owners["db_writable"] = ["persistence"]
    lag = LoopLagCheck()
    observer.listen(lag.on_event)
    parts.live["loop_lag"] = lag
    watch = parts.redis_watch  # redis: a live check, failing while Redis does not answer
    redis = ["redis"] if watch is not None else []
    readiness = Readiness([*owners, *parts.live, *redis])
    observer.listen(ActorReadiness(readiness, owners).on_event)
    if watch is not None:
        readiness.set("redis", watch.up)
        watch.listen(lambda up: readiness.set("redis", up))
    return readiness


async def run_daemon(
    settings: Settings,
    options: DaemonOptions | None = None,
    *,
    stop: trio.Event | None = None,
    task_status: trio.TaskStatus[int | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the daemon until ``stop`` is set, then shut the tree down in reverse order.

    Reports the bound metrics port (or None when metrics are off) once everything started.

    Raises:
        StoppedSafely: a fault (the database file deleted or replaced) stopped the daemon; it
            shut the tree down, then canceled its working entries and closed its positions
            at the broker.
    """
    options = options if options is not None else DaemonOptions()
    stop = stop if stop is not None else trio.Event()
    metrics = Metrics(__version__, process_collectors=not options.inline)
    observer = CountingObserver(ActorObserver(metrics))
    worker = not options.scheduler
    log.info(
        "finagent %s %s starting (feed=%s, broker=%s, queue=%s%s)",
        __version__, "worker" if worker else "daemon", settings.feed, settings.broker,
        settings.queue_backend,
        f", services={','.join(options.services)}" if options.services is not None else "",
    )  # fmt: skip
    entries = compile_entries(
        schedule_values(settings, options.at_overrides),
        known_job_types=KNOWN_JOB_TYPES,
        exchange_tz=settings.exchange.timezone,
    )
    async with (
        open_parts(settings, options, metrics, entries) as parts,
        trio.open_nursery() as nursery,
    ):
        readiness = _declared_readiness(observer, parts, scheduler=not worker)
        port: int | None = None
        if settings.metrics.enabled and not options.inline:
            port = await nursery.start(
                partial(serve_http, alerts=alert_route(parts.notify, settings)),
                settings.metrics.host,
                settings.metrics.port,
                metrics.registry,
                readiness,
            )
        nursery.start_soon(run_live_checks, readiness, parts.live, options.beat_s)
        observer.listen(parts.dispatcher.on_event)  # a crashed stage fails the job it held
        nursery.start_soon(_stop_on_fault, parts, stop)
        spec = _supervisor_spec(settings, observer, parts, options)
        async with open_supervisor(spec, observer, parts.rng) as tree:
            log.info("supervision tree '%s' running", tree.name)
            if options.probe is not None:
                options.probe.attach(parts, observer)
            notify_started(parts.notify, observer, settings)
            task_status.started(port)
            await stop.wait()
            await notify_stopping(parts.notify, settings, parts.fatal.reason)
            log.info("stopping: shutting the supervision tree down in reverse order")
        if parts.fatal.reason is not None:
            # The tree is down, so nothing sends any more; the broker is still open.
            await stop_safely(parts.broker)
            raise StoppedSafely(f"{parts.fatal.reason}; stopped safely at the broker")
        nursery.cancel_scope.cancel()
    log.info("finagent stopped")


async def _stop_on_fault(parts: Parts, stop: trio.Event) -> None:
    await parts.fatal.requested.wait()
    stop.set()


def _register_secrets(settings: Settings) -> None:
    for secret in (settings.alpaca.key_id, settings.alpaca.secret_key, settings.redis.url):
        if secret is not None and secret.get_secret_value():
            register_secret(secret.get_secret_value())
    register_notify_secrets(settings)


async def _main(settings: Settings, options: DaemonOptions) -> int:
    stop = trio.Event()
    exit_code = 0
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def daemon() -> None:
                await run_daemon(settings, options, stop=stop)
                nursery.cancel_scope.cancel()

            nursery.start_soon(daemon)
            async for signum in signals:
                name = signal.Signals(signum).name
                if not stop.is_set():
                    log.info("%s received: graceful shutdown (send again to force)", name)
                    stop.set()
                else:
                    log.warning("%s received again: forcing exit", name)
                    exit_code = EXIT_FORCED
                    nursery.cancel_scope.cancel()
    return exit_code


def run_daemon_blocking(
    settings: Settings,
    at_overrides: Sequence[str] = (),
    *,
    services: tuple[str, ...] | None = None,
) -> int:
    """Configure logging, run the daemon under ``trio.run`` and return the exit code.

    ``services`` (None: every stage) limits the stages this daemon runs (``up --services``);
    the scheduler runs in any case (under the leader lock on Redis).
    """
    options = DaemonOptions(at_overrides=tuple(at_overrides), services=services)
    return _run_blocking(settings, options)


def run_worker_blocking(settings: Settings, services: tuple[str, ...]) -> int:
    """``finagent worker``: only ``services``' stages on the shared Redis queue, no scheduler.

    Signals as for ``up``: SIGINT/SIGTERM stop gracefully, a second one forces the exit.
    """
    if settings.queue_backend != "redis":
        configure_logging(settings.log.format, settings.log.level)
        log.error("cannot start: finagent worker needs queue_backend: redis")
        return 2
    return _run_blocking(settings, DaemonOptions(services=tuple(services), scheduler=False))


def _run_blocking(settings: Settings, options: DaemonOptions) -> int:
    configure_logging(settings.log.format, settings.log.level)
    _register_secrets(settings)
    try:
        validate(settings, options.at_overrides)
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 2
    return trio.run(_main, settings, options)
