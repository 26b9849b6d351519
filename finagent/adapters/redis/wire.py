"""The Redis wire pieces both transports share: RESP encoding, reply errors, the address
from a URL, scripts, and the blocking connection (``blocking=True``, simulations only).

Encoding is ``hiredis.pack_command`` and parsing ``hiredis.Reader`` (the C parser, sans-IO):
nothing here parses RESP by hand.
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, final

import hiredis
from redis.connection import parse_url

from finagent.domain.jobs import QueueUnavailableError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CHUNK",
    "MORE",
    "Address",
    "Arg",
    "BlockingConn",
    "RedisReplyError",
    "RedisUnavailableError",
    "Script",
    "check_replies",
    "pack",
]

Arg = str | bytes | int | float
MORE = object()  # hiredis.Reader.gets(): no complete reply buffered yet
CHUNK = 65536


class RedisUnavailableError(QueueUnavailableError):
    """Redis could not be reached, the connection broke, or it answered with an error."""


class RedisReplyError(RedisUnavailableError):
    """Redis answered a command with an error reply (``str(exc)`` is its text)."""


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script and its SHA1 (for EVALSHA)."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int
    path: str | None
    db: int
    username: str | None
    password: str | None = field(repr=False)  # a secret: never in a repr or a log

    @classmethod
    def from_url(cls, url: str) -> Address:
        p = parse_url(url)  # type: ignore[no-untyped-call] # redis-py leaves it untyped
        return cls(
            str(p.get("host", "127.0.0.1")), int(p.get("port", 6379)), p.get("path"),
            int(p.get("db", 0)), p.get("username"), p.get("password"),
        )  # fmt: skip

    def handshake(self) -> list[tuple[Arg, ...]]:
        cmds: list[tuple[Arg, ...]] = []
        if self.password is not None:
            user = () if self.username is None else (self.username,)
            cmds.append(("AUTH", *user, self.password))
        if self.db:
            cmds.append(("SELECT", self.db))
        return cmds


def pack(cmd: Sequence[Arg]) -> bytes:
    """One command in RESP."""
    return hiredis.pack_command(tuple(cmd))  # type: ignore[arg-type,no-any-return] # the stub types a 1-tuple


def check_replies(replies: list[Any]) -> list[Any]:
    """``replies``, unless one is an error reply (raised as :class:`RedisReplyError`)."""
    for reply in replies:
        if isinstance(reply, hiredis.ReplyError):
            raise RedisReplyError(str(reply))
    return replies


@final
class BlockingConn:
    """A blocking socket for ``blocking=True``: one round trip per call, on the caller's thread."""

    def __init__(self, address: Address, timeout_s: float | None) -> None:
        self._address = address
        self._timeout = timeout_s
        self._sock: socket.socket | None = None
        self._reader = hiredis.Reader(encoding="utf-8", notEnoughData=MORE)

    def call(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Send ``commands`` and read their replies (reconnecting first if needed)."""
        try:
            if self._sock is None:
                self._sock = self._open()
            return self._round_trip(self._sock, commands)
        except (OSError, hiredis.ProtocolError) as exc:
            self.close()
            raise RedisUnavailableError(f"redis unavailable: {type(exc).__name__}") from None

    def _open(self) -> socket.socket:
        a = self._address
        if a.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout)
            sock.connect(a.path)
        else:
            sock = socket.create_connection((a.host, a.port), timeout=self._timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = hiredis.Reader(encoding="utf-8", notEnoughData=MORE)
        if hello := a.handshake():
            check_replies(self._round_trip(sock, hello))
        return sock

    def _round_trip(self, sock: socket.socket, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        sock.sendall(b"".join(pack(cmd) for cmd in commands))
        replies: list[Any] = []
        while len(replies) < len(commands):
            reply = self._reader.gets()
            if reply is MORE:
                data = sock.recv(CHUNK)
                if not data:
                    raise ConnectionResetError("connection closed by the server")
                self._reader.feed(data)
            else:
                replies.append(reply)
        return replies

    def close(self) -> None:
        """Close the socket; the next call reconnects."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
