"""Who gets which notice, what a burst becomes, and the Sender port's fit."""

from __future__ import annotations

import inspect

from finagent.domain.notify import Destination, Level, NoticeKind, RateLimiter, summary_of


def test_summaries_and_tests_reach_every_destination_whatever_it_filters():
    quiet = Destination("ops", frozenset({NoticeKind.LOSS_LIMIT}), Level.CRITICAL)
    assert quiet.wants(NoticeKind.SUMMARY, Level.INFO)  # stands for notices it wanted
    assert quiet.wants(NoticeKind.TEST, Level.INFO)  # `finagent notify test` must reach it
    assert not quiet.wants(NoticeKind.ORDER_FILLED, Level.CRITICAL)  # not its kind
    assert not quiet.wants(NoticeKind.LOSS_LIMIT, Level.WARNING)  # under its level
    assert quiet.wants(NoticeKind.LOSS_LIMIT, Level.CRITICAL)


def test_a_destination_never_held_has_nothing_to_summarize():
    limiter = RateLimiter(per_minute=60, burst=1)
    assert limiter.take_held("never-seen") == []
    limiter.hold("phone", "AAPL: long 10 filled at 1.00")
    assert limiter.take_held("phone") == ["AAPL: long 10 filled at 1.00"]
    assert limiter.take_held("phone") == []  # taken once, then forgotten


def test_a_long_burst_lists_the_first_titles_and_counts_the_rest():
    title, body = summary_of([f"notice {n}" for n in range(23)], limit=20)
    assert title == "23 notification(s) collapsed (rate limit)"
    assert body.splitlines() == [f"notice {n}" for n in range(20)] + ["... and 3 more"]
    assert summary_of(["only"]) == ("1 notification(s) collapsed (rate limit)", "only")


def test_the_apprise_sender_fits_the_sender_port():
    from finagent.adapters.notify.apprise_sender import AppriseSender
    from finagent.ports.notify import Sender

    for name in ("names", "send"):
        port, real = getattr(Sender, name), getattr(AppriseSender, name)
        assert list(inspect.signature(port).parameters) == list(inspect.signature(real).parameters)
        assert inspect.iscoroutinefunction(port) == inspect.iscoroutinefunction(real)
