"""``POST /alertmanager``: a real Alertmanager-shaped payload over a real loopback socket."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
import trio.testing

from finagent.domain.notify import Level, Notice, NoticeKind, alert_notices
from finagent.observability.health import Readiness
from finagent.observability.metrics import Metrics
from finagent.services.http import MAX_BODY_BYTES, AlertRoute, HttpHandler, serve_http

GUARD_S = 10  # a safety net against a hung test, not a wait

PAYLOAD = {
    "version": "4",
    "groupKey": '{}:{alertname="FinagentDown"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "finagent",
    "groupLabels": {"alertname": "FinagentDown"},
    "commonLabels": {"alertname": "FinagentDown", "severity": "critical"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "FinagentDown", "severity": "critical", "job": "finagent"},
            "annotations": {"summary": "finagent is down", "description": "no scrape for 1m"},
            "startsAt": "2026-11-25T14:31:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": "1a30ba71cca2921f",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "QueueBacklog", "severity": "warning"},
            "annotations": {},
            "startsAt": "2026-11-25T14:00:00.000Z",
            "endsAt": "2026-11-25T14:20:00.000Z",
            "fingerprint": "b2",
        },
    ],
}


async def _post(route: AlertRoute, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
            port = await nursery.start(lambda task_status: serve_http(
                "127.0.0.1", 0, Metrics(process_collectors=False).registry, Readiness(),
                alerts=route, task_status=task_status,
            ))  # fmt: skip
            response = await client.post(
                f"http://127.0.0.1:{port}/alertmanager", content=body, headers=headers
            )
            nursery.cancel_scope.cancel()
    return response


async def test_each_alert_becomes_one_notice_keyed_by_fingerprint_status_and_start() -> None:
    got: list[Notice] = []
    body = json.dumps(PAYLOAD).encode() * 1  # a body past the head's first read, too
    response = await _post(AlertRoute(got.append, None, loopback=True), body, {})
    assert (response.status_code, response.text) == (200, "accepted 2 alert(s)\n")
    assert got == [
        Notice(NoticeKind.ALERT, Level.CRITICAL,
               "alert:1a30ba71cca2921f:firing:2026-11-25T14:31:00.000Z",
               "[firing] FinagentDown: finagent is down", "no scrape for 1m"),
        Notice(NoticeKind.ALERT, Level.INFO, "alert:b2:resolved:2026-11-25T14:00:00.000Z",
               "[resolved] QueueBacklog", ""),
    ]  # fmt: skip


async def test_a_token_is_required_when_set_and_off_loopback_without_one() -> None:
    got: list[Notice] = []
    body = json.dumps(PAYLOAD).encode()
    guarded = AlertRoute(got.append, "s3cret-token", loopback=False)
    assert (await _post(guarded, body, {})).status_code == 401
    wrong = await _post(guarded, body, {"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.headers["www-authenticate"]) == (401, "Bearer")
    open_off_loopback = AlertRoute(got.append, None, loopback=False)
    refused = await _post(open_off_loopback, body, {})
    assert refused.status_code == 403 and "notify.webhook_token" in refused.text
    assert got == []
    ok = await _post(guarded, body, {"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and len(got) == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b'{"alerts": "x"}', 400),
        (b"[1]", 400),
    ],
)
async def test_a_bad_or_oversized_body_is_refused_and_nothing_is_emitted(
    body: bytes, status: int
) -> None:
    got: list[Notice] = []
    response = await _post(AlertRoute(got.append, None, loopback=True), body, {})
    assert response.status_code == status and got == []


async def test_a_body_without_length_or_cut_short_is_refused() -> None:
    got: list[Notice] = []
    route = AlertRoute(got.append, None, loopback=True)
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(lambda task_status: serve_http(
                "127.0.0.1", 0, Metrics(process_collectors=False).registry, Readiness(),
                alerts=route, read_timeout=0.5, task_status=task_status,
            ))  # fmt: skip
            answers = []
            for raw in (
                b"POST /alertmanager HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /alertmanager HTTP/1.1\r\nContent-Length: 50\r\n\r\n{}",
                b"POST /alertmanager HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1),
            ):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                await stream.send_all(raw)
                if raw.endswith(b"{}"):
                    await stream.send_eof()  # the client stops sending: the body is cut short
                reply = b""
                while chunk := await stream.receive_some(4096):
                    reply += chunk
                await stream.aclose()
                answers.append(reply.split(b"\r\n", 1)[0])
            nursery.cancel_scope.cancel()
    assert answers == [
        b"HTTP/1.1 411 Length Required", b"HTTP/1.1 400 Bad Request",
        b"HTTP/1.1 413 Content Too Large",
    ]  # fmt: skip
    assert got == []


def test_alert_notices_without_fingerprint_or_severity() -> None:
    (notice,) = alert_notices({"alerts": [{"labels": {"alertname": "X", "severity": "page"}}]})
    assert notice.level is Level.INFO and notice.title == "[firing] X"
    assert notice.key == "alert:[('alertname', 'X'), ('severity', 'page')]:firing:"
    with pytest.raises(ValueError, match="Alertmanager payload"):
        alert_notices({"alerts": [1]})
    assert alert_notices({"alerts": [{"labels": [], "annotations": None}]})[0].title == (
        "[firing] alert"
    )


async def test_a_body_that_never_comes_is_answered_at_the_read_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    got: list[Notice] = []
    registry = Metrics(process_collectors=False).registry
    route = AlertRoute(got.append, None, loopback=True)
    handler = HttpHandler(registry, Readiness(), read_timeout=5.0, alerts=route)
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handler, server)
        await client.send_all(b"POST /alertmanager HTTP/1.1\r\nContent-Length: 9\r\n\r\n{")
        reply = b""
        while chunk := await client.receive_some(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 Bad Request") and b"not received in time" in reply
    assert got == []


def test_alert_route_is_on_with_notifications_and_guarded_off_loopback() -> None:
    from finagent.app.notify import NotifyParts, _loopback, alert_route
    from finagent.domain.notify import RateLimiter
    from finagent.services.notifier import Notices, Notifier
    from finagent.settings.loading import load_settings

    settings = load_settings(environ={}).settings
    assert alert_route(None, settings) is None
    assert alert_route(NotifyParts(Notices(enabled=False)), settings) is None
    notifier = Notifier(None, [], RateLimiter(1, 1), lambda: 0.0)  # type: ignore[arg-type]
    on = NotifyParts(Notices(enabled=True), notifier)
    route = alert_route(on, settings)
    assert route is not None and route.refusal(b"POST / HTTP/1.1") is None  # loopback: open
    guarded = load_settings(environ={"FINAGENT_NOTIFY__WEBHOOK_TOKEN": "tok-12345678"}).settings
    route = alert_route(on, guarded)
    assert route is not None and route.refusal(b"POST / HTTP/1.1") is not None
    assert [_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "finagent")] == [
        True, True, True, False, False,
    ]  # fmt: skip
