"""RedisTransport: RESP spoken from Trio on one socket, replies parsed by hiredis, auto-pipelined.

Every call encodes its command (``hiredis.pack_command``) and appends it, with a reply slot, to
the connection's outgoing buffer in one synchronous step; a writer task sends everything
buffered in one ``send_all`` and a reader task feeds ``hiredis.Reader`` and hands each reply to
the oldest slot. Calls from many tasks therefore share round trips (automatic pipelining), and
the order of slots is the order on the wire.

Cancellation: a caller cancelled after its command was buffered abandons its slot; the reader
still consumes that reply and drops it, so later callers get their own replies. The command
may still run on the server (like any call whose reply is lost).

Failures: a broken connection (reset, EOF, timeout, protocol error) fails every call in flight
with :class:`RedisUnavailableError` and is closed; the next call reconnects. Nothing is ever
retried, because a call in flight may have been applied. The single exception is EVALSHA's
``NOSCRIPT`` reply: the script did not run, so it is sent again with EVAL (which caches it).

Reconnects back off: the first try after a break is immediate, but once a connect fails, calls
fail fast (no socket) until the next try is due, 0.1 s later, doubling up to 2 s. So a Redis
that is away for minutes costs one connect attempt every 2 s, however many tasks call. The
transport reports each change between reachable and unreachable to its ``listen`` callbacks
(the daemon logs one line, flips ``/readyz`` and checks the data epoch on the way back). A
connect counts as reachable only once the server answers its handshake (AUTH/SELECT, else a
PING): a hung server still accepts connections in the kernel. A connect abandoned mid-way
(timed out, or its caller cancelled) closes its socket, so the transport's close never waits.

``blocking=True`` runs each call as a plain blocking round trip on the Trio thread (after a
checkpoint). It blocks the loop: only for simulations under ``MockClock``, where waiting for a
socket lets autojump move virtual time (the loop is idle while Redis answers).
"""

from __future__ import annotations

import socket
from collections import deque
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, final

import hiredis
import trio

from actors import ReplyTo
from finagent.adapters.redis.wire import (
    CHUNK,
    MORE,
    Address,
    Arg,
    BlockingConn,
    RedisReplyError,
    RedisUnavailableError,
    Script,
    check_replies,
    pack,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

__all__ = [
    "RECONNECT_MAX_S",
    "RECONNECT_MIN_S",
    "RedisReplyError",
    "RedisTransport",
    "RedisUnavailableError",
    "Script",
    "open_redis_transport",
]


RECONNECT_MIN_S = 0.1  #: the wait after a failed connect before the next one
RECONNECT_MAX_S = 2.0  #: the longest wait between two connect attempts (it doubles up to this)


class _Slot:
    """Where the reader puts the next ``expect`` replies, then answers ``reply_to`` with them.

    ``reply_to`` is the runtime's one-shot slot: a caller that left (cancelled, timed out)
    abandons it, and the reader's late answer is dropped there.
    """

    __slots__ = ("expect", "replies", "reply_to")

    def __init__(self, expect: int) -> None:
        self.reply_to: ReplyTo[list[Any]] = ReplyTo()
        self.expect = expect
        self.replies: list[Any] = []


class _Conn:
    """One live socket: the outgoing buffer, the slots in wire order, its tasks' scope.

    ``sock`` is the non-blocking stdlib socket under ``tsock`` (the Trio socket, which waits):
    a call on an idle connection sends at once with one ``send`` syscall, no task switch.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.tsock = trio.socket.from_stdlib_socket(sock)
        self.sending = False
        self.reader = hiredis.Reader(encoding="utf-8", notEnoughData=MORE)
        self.out: list[bytes] = []
        self.slots: deque[_Slot] = deque()
        self.has_out = trio.Event()
        self.scope = trio.CancelScope()
        self.broken = False


@final
class RedisTransport:
    """One Redis server from Trio: one multiplexed connection, reconnected when it breaks.

    Args:
        address: from :func:`open_redis_transport` (host/port or unix path, db, credentials).
        nursery: runs each connection's reader and writer tasks.
        timeout_s: longest wait for a reply (and for a connect) on Trio's clock; past it the
            connection is closed. None: no deadline (tests under ``MockClock`` autojump,
            where any deadline is reached as soon as the loop waits for the socket).
        blocking: blocking round trips on the Trio thread (simulations only, see module doc).
        connect_timeout_s: longest wait for one connect (default: ``timeout_s``).
    """

    def __init__(
        self,
        address: Address,
        nursery: trio.Nursery,
        *,
        timeout_s: float | None = 10.0,
        blocking: bool = False,
        connect_timeout_s: float | None = None,
    ) -> None:
        self._address = address
        self._nursery = nursery
        self._timeout = timeout_s
        connect = connect_timeout_s if connect_timeout_s is not None else timeout_s
        self._connect_timeout = connect if connect is not None else float("inf")
        self._blocking = blocking
        self._conn: _Conn | None = None
        self._connecting = trio.Lock()
        self._sync: BlockingConn | None = None
        self.connects = 0  #: connections opened so far (a reconnect adds one)
        self.up = True  #: False from a broken connection or failed connect until one succeeds
        self._retry_at = float("-inf")  # Trio time before which no connect is attempted
        self._backoff = RECONNECT_MIN_S
        self._listeners: list[Callable[[bool, str], None]] = []

    def listen(self, listener: Callable[[bool, str], None]) -> None:
        """Call ``listener(up, why)`` on each change between reachable and unreachable."""
        self._listeners.append(listener)

    def _state(self, up: bool, why: str) -> None:
        if up is self.up:
            return
        self.up = up
        for listener in self._listeners:
            listener(up, why)

    @property
    def blocking(self) -> bool:
        """True when calls block the loop (simulation mode)."""
        return self._blocking

    async def execute(self, *args: Arg) -> Any:
        """Send one command; its reply (an error reply raises :class:`RedisReplyError`)."""
        (reply,) = await self.pipeline([args])
        return reply

    async def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Send commands back to back (not a transaction); their replies, in order."""
        if not commands:
            return []
        if self._blocking:
            await trio.lowlevel.checkpoint()
            if self._sync is None:
                self._sync = BlockingConn(self._address, self._timeout)
                self.connects += 1
            return check_replies(self._sync.call(commands))
        await trio.lowlevel.checkpoint_if_cancelled()  # cancelled already: send nothing
        conn = self._conn if self._conn is not None and not self._conn.broken else None
        if conn is None:
            conn = await self._connect()
        return check_replies(await self._send(conn, commands))

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run a cached script; on NOSCRIPT (it did not run) send it again with EVAL."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.execute("EVAL", script.source, len(keys), *keys, *args)

    async def aclose(self) -> None:
        """Close the connection; calls in flight fail with RedisUnavailableError."""
        if self._conn is not None:
            self._break(self._conn, "closed")
        if self._sync is not None:
            self._sync.close()
        await trio.lowlevel.checkpoint()

    async def _send(self, conn: _Conn, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        slot = _Slot(len(commands))
        data = b"".join([pack(cmd) for cmd in commands])
        if conn.slots or conn.sending:  # busy: the writer sends it with the others, in order
            conn.out.append(data)
            conn.has_out.set()
        else:  # idle: send at once (latency); what the socket does not take, the writer sends
            try:
                sent = conn.sock.send(data)
            except BlockingIOError:  # pragma: no cover - a full send buffer on an idle socket
                sent = 0
            except OSError as exc:
                self._break(conn, type(exc).__name__)
                raise RedisUnavailableError(f"redis unavailable: {type(exc).__name__}") from None
            if sent < len(data):
                conn.out.append(data[sent:])
                conn.has_out.set()
        conn.slots.append(slot)
        # A caller that leaves abandons its slot: the reader still consumes the replies.
        if self._timeout is None:
            return await slot.reply_to.wait()
        with trio.move_on_after(self._timeout):
            return await slot.reply_to.wait()
        self._break(conn, f"no reply within {self._timeout:g} s")
        raise RedisUnavailableError(f"redis unavailable: no reply within {self._timeout:g} s")

    async def _connect(self) -> _Conn:
        async with self._connecting:
            if self._conn is not None and not self._conn.broken:
                return self._conn  # another task reconnected meanwhile
            wait = self._retry_at - trio.current_time()
            if wait > 0:  # a connect failed a moment ago: fail fast, no socket, until the next try
                raise RedisUnavailableError(f"redis unavailable: next connect in {wait:.1f} s")
            try:
                conn = await self._connect_now()
            except RedisUnavailableError as exc:
                self._retry_at = trio.current_time() + self._backoff
                self._backoff = min(self._backoff * 2, RECONNECT_MAX_S)
                self._state(False, str(exc))
                raise
            self._retry_at, self._backoff = float("-inf"), RECONNECT_MIN_S
            self._state(True, "connected")
            return conn

    async def _connect_now(self) -> _Conn:
        started: _Conn | None = None
        deadline = trio.move_on_after(self._connect_timeout)
        try:
            with deadline:
                conn = _Conn(await self._open_socket())
                started = conn
                self._nursery.start_soon(self._serve, conn)
                self.connects += 1
                # Up only once the server answers: a hung server (SIGSTOP, swapping) still
                # accepts connections in the kernel, and "up" on the connect alone made every
                # reconnect to it log "back" and then "unavailable" again.
                hello = self._address.handshake() or [("PING",)]
                try:
                    check_replies(await self._send(conn, hello))
                except RedisReplyError as exc:  # its text never holds the password
                    self._break(conn, "handshake failed")
                    raise RedisUnavailableError(f"redis unavailable: {exc}") from None
                self._conn = conn
                return conn
        finally:
            # A connection left half-open (timed out, or its caller cancelled mid-handshake
            # by a stop) is closed here: its reader would otherwise keep the nursery, and so
            # the transport's close, waiting forever on a healthy socket.
            if started is not None and self._conn is not started:
                self._break(started, "connect timed out" if deadline.cancelled_caught else "closed")
        raise RedisUnavailableError("redis unavailable: connect timed out")

    async def _open_socket(self) -> socket.socket:
        a = self._address
        try:
            if a.path is not None:
                return await _connect(socket.AF_UNIX, socket.SOCK_STREAM, 0, a.path)
            return await _open_tcp(a.host, a.port)
        except OSError as exc:
            raise RedisUnavailableError(f"redis unavailable: {type(exc).__name__}") from None

    async def _serve(self, conn: _Conn) -> None:
        with conn.scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._guard, conn, self._write)
                await self._guard(conn, self._read)

    async def _guard(self, conn: _Conn, part: Callable[[_Conn], Awaitable[None]]) -> None:
        """Run the reader or the writer; its failure breaks the connection, not the process."""
        try:
            await part(conn)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._break(conn, type(exc).__name__)
        except (hiredis.ProtocolError, IndexError):  # IndexError: a reply nobody asked for
            self._break(conn, "protocol error")

    async def _write(self, conn: _Conn) -> None:
        while True:
            await conn.has_out.wait()
            conn.has_out = trio.Event()
            view, conn.out = memoryview(b"".join(conn.out)), []
            conn.sending = True
            while view:
                view = view[await conn.tsock.send(view) :]
            conn.sending = False

    async def _read(self, conn: _Conn) -> None:
        while True:
            await trio.lowlevel.wait_readable(conn.sock)
            try:
                data = conn.sock.recv(CHUNK)
            except BlockingIOError:  # pragma: no cover - a spurious wake-up, kernel timing
                continue
            if not data:
                raise trio.BrokenResourceError("connection closed by the server")
            conn.reader.feed(data)
            while (reply := conn.reader.gets()) is not MORE:
                slot = conn.slots[0]
                slot.replies.append(reply)
                if len(slot.replies) == slot.expect:
                    conn.slots.popleft()
                    slot.reply_to.reply(slot.replies)

    def _break(self, conn: _Conn, why: str) -> None:
        if conn.broken:
            return
        conn.broken = True
        conn.scope.cancel()
        if why != "closed":  # aclose() is a stop, not an outage
            self._state(False, why)
        exc = RedisUnavailableError(f"redis unavailable: {why}")
        while conn.slots:
            conn.slots.popleft().reply_to.fail(exc)
        conn.tsock.close()  # wakes the reader and writer (ClosedResourceError)


async def _open_tcp(host: str, port: int) -> socket.socket:
    """Connect to the first address that answers (no happy-eyeballs timers: virtual-time safe)."""
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, addr in infos:
        try:
            sock = await _connect(family, kind, proto, addr)
        except OSError as exc:
            error = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error


async def _connect(family: int, kind: int, proto: int, addr: Any) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await trio.socket.from_stdlib_socket(sock).connect(addr)
    except BaseException:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def open_redis_transport(
    url: str,
    *,
    timeout_s: float | None = 10.0,
    blocking: bool = False,
    connect_timeout_s: float | None = None,
) -> AsyncIterator[RedisTransport]:
    """``async with open_redis_transport(url) as redis``; connects lazily, closed on exit.

    ``url``: ``redis://[[user]:password@]host[:port][/db]`` or ``unix:///path?db=N``.
    """
    address = Address.from_url(url)
    try:
        async with trio.open_nursery() as nursery:
            transport = RedisTransport(
                address, nursery, timeout_s=timeout_s, blocking=blocking,
                connect_timeout_s=connect_timeout_s,
            )  # fmt: skip
            try:
                yield transport
            finally:
                await transport.aclose()
    except BaseExceptionGroup as group:
        # The connection tasks never raise: the group wraps the body's own error. Unwrap it,
        # so callers see the error they raised (a context manager, not a nursery, to them).
        if len(group.exceptions) != 1:
            raise
        exc = group.exceptions[0]
        raise exc from exc.__cause__
