"""finagent's observability: structured logs, Prometheus metrics, readiness, actor events."""

from __future__ import annotations

from finagent.observability.health import DEFAULT_CHECKS, ActorReadiness, Readiness
from finagent.observability.logs import (
    configure_logging,
    current_log_context,
    log_context,
    register_secret,
)
from finagent.observability.metrics import TRADING_STATES, Metrics
from finagent.observability.observer import ActorObserver

__all__ = [
    "DEFAULT_CHECKS",
    "TRADING_STATES",
    "ActorObserver",
    "ActorReadiness",
    "Metrics",
    "Readiness",
    "configure_logging",
    "current_log_context",
    "log_context",
    "register_secret",
]
