"""The /metrics, /healthz, /readyz endpoint: real loopback sockets, and virtual-time edge cases."""

from __future__ import annotations

import threading

import httpx
import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from finagent.observability.health import Readiness
from finagent.observability.metrics import Metrics
from finagent.services.http import MAX_HEAD_BYTES, HttpHandler, serve_http

# A safety net against a hung test, not a wait: every step below finishes in milliseconds.
GUARD_S = 10


async def _serve(nursery: trio.Nursery, registry, readiness, **kw) -> str:
    port = await nursery.start(lambda task_status: serve_http(
        "127.0.0.1", 0, registry, readiness, task_status=task_status, **kw
    ))  # fmt: skip
    assert port > 0
    return f"http://127.0.0.1:{port}"


async def test_endpoints_over_a_real_loopback_socket():
    metrics = Metrics(version="0.1.0")
    metrics.jobs_completed.labels("scan").inc(3)
    readiness = Readiness()
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
            base = await _serve(nursery, metrics.registry, readiness)
            health = await client.get(f"{base}/healthz")
            assert (health.status_code, health.text) == (200, "ok\n")

            not_ready = await client.get(f"{base}/readyz")
            assert not_ready.status_code == 503
            assert not_ready.text.splitlines()[0] == "not ready: recovery, scheduler, db_writable"
            readiness.set("recovery")
            readiness.set("db_writable", False, "disk full since 14:03:07")
            assert (await client.get(f"{base}/readyz")).text == (
                "not ready: scheduler, db_writable\n"
                "recovery: ok\n"
                "scheduler: failing\n"
                "db_writable: failing (disk full since 14:03:07)\n"
            )  # each check with its last result, and why it fails where known
            readiness.set("db_writable")
            readiness.set("scheduler")
            ready = await client.get(f"{base}/readyz")
            assert (ready.status_code, ready.text) == (
                200,
                "ready\nrecovery: ok\nscheduler: ok\ndb_writable: ok\n",
            )

            scrape = await client.get(f"{base}/metrics?x=1")
            assert scrape.status_code == 200
            assert scrape.headers["content-type"].startswith("text/plain; version=")
            assert 'finagent_jobs_completed_total{type="scan"} 3.0' in scrape.text
            assert 'finagent_build_info{version="0.1.0"} 1.0' in scrape.text

            head = await client.head(f"{base}/metrics")
            assert head.status_code == 200 and head.content == b""
            assert int(head.headers["content-length"]) > 0
            assert (await client.get(f"{base}/nope")).status_code == 404
            post = await client.post(f"{base}/metrics")
            assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
            nursery.cancel_scope.cancel()


async def test_a_silent_client_does_not_stop_others_from_scraping():
    metrics = Metrics()
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
            base = await _serve(nursery, metrics.registry, Readiness(), read_timeout=3600)
            port = int(base.rsplit(":", 1)[1])
            silent = await trio.open_tcp_stream("127.0.0.1", port)
            partial = await trio.open_tcp_stream("127.0.0.1", port)
            await partial.send_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
            for n in range(5):
                metrics.scan_candidates.set(n)
                scrape = await client.get(f"{base}/metrics")
                assert scrape.status_code == 200
                assert f"finagent_scan_candidates {float(n)}" in scrape.text
            await silent.aclose()
            await partial.aclose()
            nursery.cancel_scope.cancel()


async def test_rendering_runs_off_the_trio_thread_and_never_blocks_the_loop():
    """A collector stuck in collect() holds one scrape; the loop and /healthz carry on."""
    release = threading.Event()
    seen_threads: list[int] = []
    entered = trio.Event()
    trio_thread = threading.get_ident()

    class Stuck:
        def collect(self):
            seen_threads.append(threading.get_ident())
            trio.from_thread.run_sync(entered.set)
            release.wait(GUARD_S)
            yield GaugeMetricFamily("stuck_value", "A gauge behind a slow collector.", value=1)

    registry = CollectorRegistry()
    registry.register(Stuck())
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
            base = await _serve(nursery, registry, Readiness(["only"]))
            results: list[httpx.Response] = []
            scraped = trio.Event()

            async def scrape() -> None:
                results.append(await client.get(f"{base}/metrics"))
                scraped.set()

            nursery.start_soon(scrape)
            await entered.wait()  # the scrape is inside the collector, in a worker thread
            ticks = 0
            for _ in range(3):
                assert (await client.get(f"{base}/healthz")).status_code == 200
                ticks += 1
            assert not results  # still held by the collector
            release.set()
            await scraped.wait()
            assert ticks == 3
            assert "stuck_value 1.0" in results[0].text
            assert seen_threads and trio_thread not in seen_threads
            nursery.cancel_scope.cancel()


# ---- one connection, in virtual time, over in-memory streams -------------------------------


def _handler(registry=None, readiness=None, timeout=5.0) -> HttpHandler:
    return HttpHandler(
        registry or CollectorRegistry(), readiness or Readiness(["a"]), read_timeout=timeout
    )


async def _exchange(request: bytes, handler: HttpHandler | None = None) -> bytes:
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handler or _handler(), server)
        await client.send_all(request)
        response = b""
        while chunk := await client.receive_some():
            response += chunk
    return response


async def test_silent_connection_is_closed_at_the_read_timeout(autojump_clock):
    client, server = trio.testing.memory_stream_pair()
    t0 = trio.current_time()
    await _handler(timeout=7.5)(server)
    assert trio.current_time() - t0 == 7.5
    assert await client.receive_some() == b""


async def test_client_that_never_reads_is_dropped_at_the_write_timeout(autojump_clock):
    client, server = trio.testing.lockstep_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send_all, b"GET /healthz HTTP/1.1\r\n\r\n")
        t0 = trio.current_time()
        await _handler(timeout=4.0)(server)
        assert trio.current_time() - t0 == 4.0


async def test_client_that_hangs_up_early_gets_nothing_and_breaks_nothing(autojump_clock):
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(b"GET /metr")
    await client.aclose()
    t0 = trio.current_time()
    await _handler()(server)
    assert trio.current_time() == t0


async def test_client_gone_before_the_response_is_tolerated(autojump_clock):
    client, server = trio.testing.lockstep_stream_pair()
    async with trio.open_nursery() as nursery:

        async def ask_and_leave() -> None:
            await client.send_all(b"GET /healthz HTTP/1.1\r\n\r\n")
            await client.aclose()

        nursery.start_soon(ask_and_leave)
        await _handler()(server)
    assert trio.current_time() == 0


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET /healthz SMTP/1.0\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/1.0\n\n", b"200"),
        (b"DELETE /readyz HTTP/1.1\r\n\r\n", b"405"),
        (b"GET /metrics HTTP/1.1\r\nX: " + b"y" * (MAX_HEAD_BYTES + 10), b"431"),
    ],
)
async def test_malformed_requests_get_a_status_line(autojump_clock, request_bytes, status):
    response = await _exchange(request_bytes)
    assert response.split(b" ", 2)[1] == status
    assert b"\r\nConnection: close\r\n" in response


async def test_head_on_readyz_has_headers_but_no_body(autojump_clock):
    response = await _exchange(b"HEAD /readyz HTTP/1.1\r\n\r\n")
    headers, _, body = response.partition(b"\r\n\r\n")
    # "not ready: a\n" and "a: failing\n": the length of the GET body
    assert headers.startswith(b"HTTP/1.1 503 ") and b"Content-Length: 24" in headers
    assert body == b""


async def test_a_failing_collector_answers_500(autojump_clock, caplog):
    class Broken:
        def collect(self):
            raise RuntimeError("collector exploded")

    registry = CollectorRegistry()
    registry.register(Broken())
    response = await _exchange(b"GET /metrics HTTP/1.1\r\n\r\n", _handler(registry))
    assert response.startswith(b"HTTP/1.1 500 ")
    assert "rendering /metrics failed" in caplog.text


def test_readiness_rejects_unknown_and_empty_checks():
    readiness = Readiness(["db"])
    with pytest.raises(KeyError, match="unknown readiness check 'dbx'"):
        readiness.set("dbx")
    with pytest.raises(ValueError, match="at least one"):
        Readiness([])
    readiness.set("db")
    assert readiness.ready and readiness.snapshot() == {"db": True}
    readiness.set("db", ok=False)
    assert not readiness.ready and readiness.failing() == ["db"]
