"""RedisTransport on a real redis-server: pipelining, scripts, errors, cancellation, restarts."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
import redis
import trio
import trio.testing

from finagent.adapters.redis.transport import (
    RECONNECT_MIN_S,
    RedisReplyError,
    RedisTransport,
    RedisUnavailableError,
    Script,
    open_redis_transport,
)
from tests.redis_server import RedisServer, redis_server, shared_redis_server

__all__ = ["redis_server"]  # the fixture, used by name below

ECHO = Script("return ARGV[1]")


@pytest.fixture
async def transport() -> AsyncIterator[RedisTransport]:
    async with open_redis_transport(shared_redis_server().url, timeout_s=None) as r:
        yield r


def raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


async def test_replies_are_decoded_and_typed(transport: RedisTransport) -> None:
    key = f"t:{os.urandom(4).hex()}"
    assert await transport.execute("PING") == "PONG"
    assert await transport.execute("SET", key, 1.5) == "OK"
    assert await transport.execute("INCRBYFLOAT", key, 1) == "2.5"
    assert await transport.execute("GET", f"{key}:none") is None
    assert await transport.execute("RPUSH", f"{key}:l", "a", b"b", 3) == 3
    assert await transport.execute("LRANGE", f"{key}:l", 0, -1) == ["a", "b", "3"]
    assert await transport.pipeline([]) == []
    assert await transport.pipeline([("DEL", key), ("DEL", f"{key}:l")]) == [1, 1]


async def test_concurrent_calls_share_round_trips_and_keep_their_order(
    transport: RedisTransport,
) -> None:
    got: dict[int, str] = {}

    async def call(i: int) -> None:
        got[i] = await transport.execute("ECHO", f"m{i}")

    async with trio.open_nursery() as nursery:
        for i in range(2000):
            nursery.start_soon(call, i)
    assert got == {i: f"m{i}" for i in range(2000)}
    assert transport.connects == 1


async def test_noscript_reloads_the_script_once(transport: RedisTransport) -> None:
    script = Script(f"return 'fresh-{os.urandom(4).hex()}' .. ARGV[1]")
    first = await transport.evalsha(script, [], ["x"])  # NOSCRIPT: sent again with EVAL
    assert first.endswith("x") and first.startswith("fresh-")
    assert await transport.execute("SCRIPT", "EXISTS", script.sha) == [1]
    await transport.execute("SCRIPT", "FLUSH")
    assert await transport.evalsha(script, [], ["y"]) == first[:-1] + "y"
    assert await transport.evalsha(ECHO, ["k"], [7]) == "7"


async def test_error_replies_raise_and_leave_the_connection_usable(
    transport: RedisTransport,
) -> None:
    with pytest.raises(RedisReplyError, match="wrong number of arguments"):
        await transport.execute("INCR")
    with pytest.raises(RedisReplyError, match="BOOM"):
        await transport.evalsha(Script("return redis.error_reply('BOOM here')"), [], [])
    with pytest.raises(RedisReplyError, match="WRONGTYPE"):
        await transport.pipeline([("SET", "t:str", "x"), ("LPUSH", "t:str", "y")])
    assert await transport.execute("PING") == "PONG"
    assert transport.connects == 1


async def test_a_cancelled_caller_s_reply_is_consumed_not_handed_to_the_next(
    transport: RedisTransport,
) -> None:
    # The classic pipelining bug: a caller cancelled after its command went out must not
    # leave its reply for the next caller. BLPOP on an empty list holds its reply back (and
    # every reply after it on this connection) for 0.3 s.
    with trio.move_on_after(0.05) as scope:
        await transport.execute("BLPOP", f"t:empty:{os.urandom(4).hex()}", "0.3")
    assert scope.cancelled_caught
    assert await transport.execute("ECHO", "mine") == "mine"
    assert await transport.pipeline([("ECHO", "a"), ("ECHO", "b")]) == ["a", "b"]
    assert transport.connects == 1


async def test_a_caller_cancelled_before_the_call_sends_nothing(
    transport: RedisTransport,
) -> None:
    key = f"t:{os.urandom(4).hex()}"
    with trio.CancelScope() as scope:
        scope.cancel()
        await transport.execute("SET", key, "x")
    assert await transport.execute("EXISTS", key) == 0


async def test_a_restarted_server_fails_calls_in_flight_then_reconnects(
    redis_server: RedisServer, mock_clock: trio.testing.MockClock
) -> None:
    async with open_redis_transport(redis_server.url, timeout_s=None) as r:
        states: list[tuple[bool, str]] = []
        r.listen(lambda up, why: states.append((up, why)))
        assert await r.execute("SET", "k", "v") == "OK"
        failed: list[str] = []

        async def in_flight() -> None:
            try:
                await r.execute("BLPOP", "empty", "5")
            except RedisUnavailableError as exc:
                failed.append(str(exc))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(in_flight)
            await trio.testing.wait_all_tasks_blocked()  # its command is out, its reply due
            await trio.to_thread.run_sync(redis_server.kill)
        assert failed and failed[0].startswith("redis unavailable")
        with pytest.raises(RedisUnavailableError, match="ConnectionRefusedError"):
            await r.execute("PING")  # the server is down: no reconnect possible
        with pytest.raises(RedisUnavailableError, match=r"next connect in 0.1 s"):
            await r.execute("PING")  # backing off: fails fast, no socket
        redis_server.start()  # same port; the AOF brings "k" back
        mock_clock.jump(RECONNECT_MIN_S)  # the next try is due
        assert await r.execute("GET", "k") == "v"
        assert r.connects == 2 and r.up
        # one change each way, in order (the refused connect does not repeat "down")
        assert [up for up, _ in states] == [False, True]


async def test_no_reply_within_the_timeout_drops_the_connection(
    redis_server: RedisServer,
) -> None:
    async with open_redis_transport(redis_server.url, timeout_s=0.1) as r:
        with pytest.raises(RedisUnavailableError, match=r"no reply within 0.1 s"):
            await r.execute("BLPOP", "empty", "0.5")
        with trio.fail_after(5):
            assert await r.execute("PING") == "PONG"  # a new connection
        assert r.connects == 2


async def test_auth_and_select_come_from_the_url(tmp_path: Path) -> None:
    from tests.redis_server import running_redis

    data = tmp_path / "redis"
    data.mkdir()
    with running_redis(data) as server:
        raw(server.url).config_set("requirepass", "s3cret")
        base = f"127.0.0.1:{server.port}"
        async with open_redis_transport(f"redis://:s3cret@{base}/3", timeout_s=5.0) as r:
            assert await r.execute("SET", "where", "db3") == "OK"
            assert await r.execute("CLIENT", "INFO") is not None
        async with open_redis_transport(f"redis://default:s3cret@{base}/3") as r:
            assert await r.execute("GET", "where") == "db3"
        async with open_redis_transport(f"redis://:wrong@{base}/0") as r:
            with pytest.raises(RedisUnavailableError, match="WRONGPASS") as info:
                await r.execute("PING")
            assert "wrong" not in str(info.value).replace("WRONGPASS", "")
        r2 = redis.Redis(port=server.port, password="s3cret", db=3, decode_responses=True)
        assert r2.get("where") == "db3"


async def test_a_unix_socket_url_works(tmp_path: Path) -> None:
    from tests.redis_server import require_redis_server

    binary = require_redis_server()
    path = tmp_path / "r.sock"
    proc = await trio.lowlevel.open_process(
        [binary, "--port", "0", "--unixsocket", str(path), "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with trio.fail_after(10):  # the server's start-up, on the wall clock
            while not path.exists():  # noqa: ASYNC110 - another process's file
                await trio.sleep(0.01)
        for blocking in (False, True):
            async with open_redis_transport(f"unix://{path}?db=2", blocking=blocking) as r:
                assert await r.execute("SET", "u", int(blocking)) == "OK"
                assert await r.execute("GET", "u") == str(int(blocking))
    finally:
        proc.kill()
        await proc.wait()


async def test_blocking_mode_keeps_virtual_time_still(autojump_clock: object) -> None:
    url = shared_redis_server().url
    async with open_redis_transport(url, blocking=True) as r, trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep, 1000)
        assert r.blocking
        assert await r.pipeline([("ECHO", "a"), ("ECHO", "b")]) == ["a", "b"]
        assert await r.evalsha(ECHO, [], ["x"]) == "x"
        with pytest.raises(RedisReplyError, match="wrong number"):
            await r.execute("GET")
        assert trio.current_time() == 0
        nursery.cancel_scope.cancel()


async def test_blocking_mode_reconnects_after_a_restart(redis_server: RedisServer) -> None:
    async with open_redis_transport(redis_server.url, blocking=True, timeout_s=5.0) as r:
        assert await r.execute("SET", "k", "v") == "OK"
        redis_server.kill()
        with pytest.raises(RedisUnavailableError, match="redis unavailable"):
            await r.execute("GET", "k")
        redis_server.start()
        assert await r.execute("GET", "k") == "v"
        assert r.connects == 1  # counted once: the blocking socket reopens on its own


async def test_an_unreachable_server_and_a_closed_transport_are_errors() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        async with open_redis_transport(f"redis://127.0.0.1:{port}/0") as r:
            with pytest.raises(RedisUnavailableError, match="ConnectionRefused"):
                await r.execute("PING")
    async with open_redis_transport(shared_redis_server().url) as r:
        assert await r.execute("PING") == "PONG"
        await r.aclose()
        assert await r.execute("PING") == "PONG"  # reopened


async def test_an_error_in_the_body_propagates_unwrapped() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with open_redis_transport(shared_redis_server().url) as r:
            await r.execute("PING")
            raise KeyError("mine")


async def _fake_server(nursery: trio.Nursery, reply: bytes) -> int:
    """A TCP server that answers any command with ``reply`` (raw bytes), then stays silent."""

    async def handler(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        if reply:
            await stream.send_all(reply)
        await trio.sleep_forever()

    listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return int(listeners[0].socket.getsockname()[1])


async def test_a_server_that_never_answers_the_handshake_times_out() -> None:
    async with trio.open_nursery() as nursery:
        port = await _fake_server(nursery, b"")
        url = f"redis://:pw@127.0.0.1:{port}/0"
        async with open_redis_transport(url, timeout_s=0.2) as r:
            with pytest.raises(RedisUnavailableError, match="redis unavailable"):
                await r.execute("PING")
        nursery.cancel_scope.cancel()


async def test_a_stop_during_the_connect_handshake_closes_the_half_open_connection() -> None:
    """The caller is cancelled (a daemon stopping) while the connect's PING waits for a silent
    server: the transport still closes, instead of its reader waiting on the socket forever."""
    async with trio.open_nursery() as nursery:
        port = await _fake_server(nursery, b"")  # accepts, reads, never answers
        with trio.fail_after(5):  # a safety net: the close must not wait on the socket
            url = f"redis://127.0.0.1:{port}/0"
            async with (
                open_redis_transport(url, timeout_s=None) as r,
                trio.open_nursery() as caller,
            ):
                caller.start_soon(r.execute, "PING")
                await trio.testing.wait_all_tasks_blocked()  # the PING sent, unanswered
                assert r.connects == 1
                caller.cancel_scope.cancel()
            assert r.up  # a stop, not an outage: nothing was reported down
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("reply", [b"?garbage\r\n", b"+OK\r\n+EXTRA\r\n"])
async def test_a_malformed_or_unsolicited_reply_breaks_the_connection(reply: bytes) -> None:
    """The connect's PING meets the reply: garbage, or its answer plus one nobody asked for."""
    async with trio.open_nursery() as nursery:
        port = await _fake_server(nursery, reply)
        async with open_redis_transport(f"redis://127.0.0.1:{port}/0", timeout_s=5.0) as r:
            with pytest.raises(RedisUnavailableError):
                await r.execute("PING")
            assert r.connects == 1
            with trio.fail_after(5):  # bounded: past the reconnect back-off, a new connection
                while r.connects < 2:
                    with contextlib.suppress(RedisUnavailableError):  # the same reply again
                        await r.execute("PING")
                    await trio.sleep(0.02)
            assert r.connects == 2  # the broken connection was replaced
        nursery.cancel_scope.cancel()


async def test_a_command_bigger_than_the_socket_buffer_is_sent_whole(
    transport: RedisTransport,
) -> None:
    key = f"t:{os.urandom(4).hex()}"
    big = "x" * (16 * 1024 * 1024)
    assert await transport.execute("SET", key, big) == "OK"
    assert await transport.execute("STRLEN", key) == len(big)
    assert await transport.execute("DEL", key) == 1


async def test_failed_connects_back_off_doubling_up_to_the_cap(
    mock_clock: trio.testing.MockClock,
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with open_redis_transport(f"redis://127.0.0.1:{port}/0", timeout_s=None) as r:
        waits = []
        for _ in range(7):
            with pytest.raises(RedisUnavailableError, match="ConnectionRefusedError"):
                await r.execute("PING")
            with pytest.raises(RedisUnavailableError, match="next connect in") as fast:
                await r.execute("PING")
            waits.append(float(str(fast.value).split(" in ")[1].split()[0]))
            mock_clock.jump(waits[-1])
        assert waits == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
        assert not r.up
