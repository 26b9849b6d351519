"""ActorObserver: actor lifecycle events become JSON log lines and actor metrics."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass

import pytest

from actors.events import (
    ActorExited,
    ActorRestarted,
    ActorStarted,
    ExitReason,
    LifecycleEvent,
    LoopLag,
    SupervisorEscalated,
    SupervisorGaveUp,
)
from finagent.observability.logs import configure_logging
from finagent.observability.metrics import Metrics
from finagent.observability.observer import ActorObserver


@pytest.fixture
def lines():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("json", "DEBUG", out)
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    root.handlers[:] = handlers
    root.setLevel(level)


def _value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def _crash(message: str) -> ValueError:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


def test_start_exit_restart_drive_actor_up_and_restarts(lines):
    m = Metrics(process_collectors=False)
    obs = ActorObserver(m)
    obs.on_event(ActorStarted("scanner"))
    assert _value(m, "finagent_actor_up", actor="scanner") == 1
    obs.on_event(ActorExited("scanner", ExitReason.ERROR, _crash("bad bar")))
    assert _value(m, "finagent_actor_up", actor="scanner") == 0
    obs.on_event(ActorRestarted("scanner", attempt=1, delay=0.1))
    obs.on_event(ActorRestarted("scanner", attempt=2, delay=0.2))
    obs.on_event(ActorStarted("scanner"))
    assert _value(m, "finagent_actor_restarts_total", actor="scanner") == 2
    assert _value(m, "finagent_actor_up", actor="scanner") == 1

    started, crashed, restart1, restart2, _ = lines()
    assert started | {"timestamp": 0} == {
        "timestamp": 0,
        "level": "INFO",
        "logger": "finagent.actors",
        "message": "actor started",
        "actor": "scanner",
        "event": "started",
    }
    assert crashed["level"] == "ERROR" and crashed["reason"] == "error"
    assert crashed["message"] == "actor crashed: ValueError('bad bar')"
    assert "ValueError: bad bar" in crashed["exc_info"]
    assert (restart1["level"], restart1["attempt"], restart1["delay"]) == ("WARNING", 1, 0.1)
    assert restart2["message"] == "actor restarting in 0.200s (attempt 2)"


@pytest.mark.parametrize("reason", [ExitReason.NORMAL, ExitReason.SHUTDOWN])
def test_clean_exit_is_info_and_marks_the_actor_down(lines, reason):
    m = Metrics(process_collectors=False)
    obs = ActorObserver(m)
    obs.on_event(ActorStarted("planner"))
    obs.on_event(ActorExited("planner", reason))
    assert _value(m, "finagent_actor_up", actor="planner") == 0
    line = lines()[-1]
    assert (line["level"], line["reason"]) == ("INFO", reason.value)
    assert "exc_info" not in line


def test_supervisor_give_up_and_escalation_are_errors(lines):
    m = Metrics(process_collectors=False)
    obs = ActorObserver(m)
    obs.on_event(ActorStarted("services"))
    obs.on_event(SupervisorGaveUp("services", restarts=3, within=5.0))
    obs.on_event(SupervisorEscalated("services", _crash("db locked")))
    assert _value(m, "finagent_actor_up", actor="services") == 0
    _, gave_up, escalated = lines()
    assert gave_up["message"] == "supervisor gave up: more than 3 restarts within 5.0s"
    assert (gave_up["level"], gave_up["restarts"], gave_up["within"]) == ("ERROR", 3, 5.0)
    assert escalated["event"] == "escalated" and "ValueError: db locked" in escalated["exc_info"]


def test_loop_lag_sets_the_gauge_and_warns_only_above_the_threshold(lines):
    m = Metrics(process_collectors=False)
    obs = ActorObserver(m, lag_warn_s=0.25)
    obs.on_event(LoopLag("watchdog", 0.01))
    assert _value(m, "finagent_event_loop_lag_seconds") == 0.01
    assert lines() == []
    obs.on_event(LoopLag("watchdog", 0.4))
    assert _value(m, "finagent_event_loop_lag_seconds") == 0.4
    (warning,) = lines()
    assert (warning["level"], warning["lag_s"]) == ("WARNING", 0.4)


def test_an_unknown_event_is_logged_at_debug_and_changes_no_metric(lines):
    @dataclass(frozen=True, slots=True)
    class Custom(LifecycleEvent):
        detail: str = "x"

    m = Metrics(process_collectors=False)
    ActorObserver(m).on_event(Custom("odd"))
    (line,) = lines()
    assert line["level"] == "DEBUG" and line["actor"] == "odd"
    assert _value(m, "finagent_actor_up", actor="odd") is None
