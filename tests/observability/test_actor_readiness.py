"""ActorReadiness: checks follow the actors' declarations, exits and restarts."""

from __future__ import annotations

from actors import ActorExited, ActorRestarted, ActorStarted, ExitReason
from finagent.observability import ActorReadiness, Readiness


def test_a_check_passes_only_while_every_actor_behind_it_declared_started():
    owners = {"recovery": ["persistence", "execution"], "scheduler": ["scheduler"]}
    readiness = Readiness(owners)
    follow = ActorReadiness(readiness, owners).on_event
    follow(ActorStarted("persistence"))
    assert readiness.failing() == ["recovery", "scheduler"]
    follow(ActorStarted("execution"))
    follow(ActorStarted("scheduler"))
    assert readiness.ready
    follow(ActorExited("execution", ExitReason.ERROR, ValueError("crash")))
    follow(ActorRestarted("execution", 1, 0.1))  # not a declaration: still not ready
    assert readiness.failing() == ["recovery"]
    follow(ActorStarted("execution"))  # the new incarnation declared
    assert readiness.ready
    follow(ActorExited("scheduler", ExitReason.SHUTDOWN))  # stopping: not ready any more
    assert readiness.failing() == ["scheduler"]
