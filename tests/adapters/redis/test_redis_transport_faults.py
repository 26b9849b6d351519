"""RedisTransport under socket faults: a reset seen first by a send, a connect that never
completes, and a transport cancelled from outside with its connection open."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from finagent.adapters.redis.transport import RedisUnavailableError, open_redis_transport
from tests.redis_server import shared_redis_server


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as s:
        yield s


def _answer_one_ping(listener: socket.socket) -> socket.socket:
    """A one-shot server: accept, answer the connect's PING and one command with +PONG, keep
    the socket."""
    peer, _ = listener.accept()
    for _ in range(2):
        peer.recv(1024)
        peer.sendall(b"+PONG\r\n")
    return peer


async def test_a_reset_seen_by_the_send_fails_the_call_and_marks_redis_down(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]
    changes: list[tuple[bool, str]] = []
    peers: list[socket.socket] = []

    async def serve() -> None:
        peers.append(await trio.to_thread.run_sync(_answer_one_ping, listener))

    async with open_redis_transport(f"redis://127.0.0.1:{port}/0", timeout_s=5.0) as r:
        r.listen(lambda up, why: changes.append((up, why)))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            assert await r.execute("PING") == "PONG"
        # The server dies abortively (RST, as a crashed host's kernel does). No checkpoint
        # follows, so the reader has not seen it: the idle connection's send does.
        peers[0].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peers[0].close()
        with pytest.raises(RedisUnavailableError, match=r"ConnectionResetError|BrokenPipeError"):
            await r.execute("PING")
        assert not r.up and changes == [(False, changes[0][1])]
        assert changes[0][1] in ("ConnectionResetError", "BrokenPipeError")
        # the next call reconnects
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            assert await r.execute("PING") == "PONG"
        assert r.up and r.connects == 2 and changes[-1] == (True, "connected")
        peers[1].close()


async def test_a_connect_that_never_completes_times_out_without_a_connection(
    listener: socket.socket,
) -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    # hangs (as to a host that went away) until the transport's own deadline.
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # in progress: it stays in the queue
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        async with open_redis_transport(url, timeout_s=5.0, connect_timeout_s=0.2) as r:
            t0 = trio.current_time()
            with pytest.raises(RedisUnavailableError, match="connect timed out"):
                await r.execute("PING")
            assert 0.2 <= trio.current_time() - t0 < 5.0
            assert r.connects == 0 and not r.up  # no socket was ever handed to a reader
            with pytest.raises(RedisUnavailableError, match="next connect in"):
                await r.execute("PING")  # backing off: fails fast
    finally:
        for s in fillers:
            s.close()


async def test_cancelling_an_open_transport_from_outside_stops_it_quietly() -> None:
    url = shared_redis_server().url
    with trio.CancelScope() as scope:
        async with open_redis_transport(url) as r:
            assert await r.execute("PING") == "PONG"  # a connection with its reader and writer
            scope.cancel()
            await trio.sleep_forever()
    # the body's and the connection tasks' Cancelled all reached the scope: no group leaked
    assert scope.cancelled_caught
