"""The daemon's HTTP endpoint: ``/metrics``, ``/healthz``, ``/readyz`` and ``POST /alertmanager``.

Rules it keeps:

- It never blocks the Trio loop: rendering the exposition text (which walks every family
  and reads /proc) runs in a worker thread, bounded by a :class:`trio.CapacityLimiter`.
- A slow or silent client never stalls anyone: each connection is its own task, with a read
  deadline for the request head and a write deadline for the response, after which it is
  closed. One response per connection (``Connection: close``); Prometheus copes with that.
- A bad request or a failing collector is answered (400/404/405/431/500) and logged, and it
  never reaches the server's nursery.
- ``POST /alertmanager`` (Alertmanager's webhook) reads a body of at most
  :data:`MAX_BODY_BYTES` and turns each alert into an ``alert`` notice. It needs
  ``Authorization: Bearer <notify.webhook_token>`` when a token is set, and is refused (403)
  without one unless the server listens on loopback only.
"""

from __future__ import annotations

import hmac
import json
import logging
from functools import partial
from typing import TYPE_CHECKING, Final

import trio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from finagent.domain.errors import ConfigError
from finagent.domain.notify import alert_notices

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry

    from finagent.domain.notify import Notice
    from finagent.observability.health import Readiness

__all__ = [
    "DEFAULT_READ_TIMEOUT_S",
    "MAX_BODY_BYTES",
    "MAX_HEAD_BYTES",
    "AlertRoute",
    "HttpHandler",
    "serve_http",
]

log = logging.getLogger(__name__)

DEFAULT_READ_TIMEOUT_S: Final = 10.0
MAX_HEAD_BYTES: Final = 8192
#: an Alertmanager group of a few hundred alerts fits; a larger body is refused (413)
MAX_BODY_BYTES: Final = 1 << 20
_TEXT: Final = "text/plain; charset=utf-8"
_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _response(status: int, body: bytes, content_type: str = _TEXT, *, head: bool = False) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "Cache-Control: no-store",
    ]
    if status == 405:
        lines.append("Allow: GET, HEAD")
    if status == 401:
        lines.append("WWW-Authenticate: Bearer")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (b"" if head else body)


class _HeadTooLargeError(Exception):
    """The request head exceeded :data:`MAX_HEAD_BYTES`."""


class _BodyError(Exception):
    """The request body is missing its length, too large, or cut short."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


async def _read_head(stream: trio.abc.Stream) -> tuple[bytes, bytes] | None:
    """The request head up to its blank line, and the bytes read past it; None on hang-up."""
    buf = bytearray()
    while True:
        end, sep = buf.find(b"\r\n\r\n"), 4
        if end < 0:
            end, sep = buf.find(b"\n\n"), 2
        if end >= 0:
            return bytes(buf[:end]), bytes(buf[end + sep :])
        if len(buf) > MAX_HEAD_BYTES:
            raise _HeadTooLargeError
        chunk = await stream.receive_some(4096)
        if not chunk:
            return None
        buf += chunk


async def _read_body(stream: trio.abc.Stream, head: bytes, rest: bytes) -> bytes:
    """The body announced by ``Content-Length`` (at most :data:`MAX_BODY_BYTES`)."""
    length = _header(head, "content-length")
    if length is None or not length.isdigit():
        raise _BodyError(411, "a Content-Length is required")
    size = int(length)
    if size > MAX_BODY_BYTES:
        raise _BodyError(413, f"body over {MAX_BODY_BYTES} bytes")
    body = bytearray(rest[:size])
    while len(body) < size:
        chunk = await stream.receive_some(min(65536, size - len(body)))
        if not chunk:
            raise _BodyError(400, "body cut short")
        body += chunk
    return bytes(body)


def _header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").splitlines()[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


class AlertRoute:
    """``POST /alertmanager``: who may post (a bearer token, or loopback only) and where to."""

    def __init__(self, emit: Callable[[Notice], None], token: str | None, loopback: bool) -> None:
        self._emit = emit
        self._token = token
        self._loopback = loopback

    def refusal(self, head: bytes) -> bytes | None:
        """The 401/403 response for a caller not allowed to post, or None."""
        if self._token is None:
            if self._loopback:
                return None
            return _response(403, b"set notify.webhook_token to accept alerts off loopback\n")
        given = (_header(head, "authorization") or "").removeprefix("Bearer ").encode()
        if hmac.compare_digest(given, self._token.encode()):
            return None
        return _response(401, b"a valid Authorization: Bearer token is required\n")

    def accept(self, body: bytes) -> bytes:
        """Emit one notice per alert; 400 on a body that is not an Alertmanager payload."""
        try:
            notices = alert_notices(json.loads(body))
        except ValueError as exc:  # JSONDecodeError is one
            log.warning("POST /alertmanager: bad payload: %s", exc)
            return _response(400, f"bad payload: {exc}\n".encode())
        for notice in notices:
            self._emit(notice)
        return _response(200, f"accepted {len(notices)} alert(s)\n".encode())


class HttpHandler:
    """Answers one connection: reads one request, writes one response, closes."""

    def __init__(
        self,
        registry: CollectorRegistry,
        readiness: Readiness,
        *,
        read_timeout: float = DEFAULT_READ_TIMEOUT_S,
        render_threads: int = 2,
        alerts: AlertRoute | None = None,
    ) -> None:
        self._alerts = alerts
        self._registry = registry
        self._readiness = readiness
        self._timeout = read_timeout
        self._limiter = trio.CapacityLimiter(render_threads)

    async def __call__(self, stream: trio.abc.Stream) -> None:
        """Serve ``stream`` and close it, whatever the client does."""
        async with stream:
            try:
                with trio.move_on_after(self._timeout) as read_scope:
                    read = await _read_head(stream)
                if read_scope.cancelled_caught:
                    log.debug("http client sent no request within %.1fs", self._timeout)
                    return
                if read is None:
                    return
                response = await self._answer(stream, *read)
                with trio.move_on_after(self._timeout):
                    await stream.send_all(response)
            except _HeadTooLargeError:
                with trio.move_on_after(self._timeout):
                    await stream.send_all(_response(431, b"request head too large\n"))
            except _BodyError as exc:
                with trio.move_on_after(self._timeout):
                    await stream.send_all(_response(exc.status, f"{exc}\n".encode()))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                log.debug("http client went away")

    def _ready(self, head_only: bool) -> bytes:
        """``ready`` or ``not ready: <checks>``, then each check's last result on its own line."""
        readiness = self._readiness
        failing = readiness.failing()
        lines = [f"not ready: {', '.join(failing)}" if failing else "ready"]
        for name, ok in readiness.snapshot().items():
            why = readiness.reason(name)
            lines.append(f"{name}: {'ok' if ok else 'failing'}{f' ({why})' if why else ''}")
        body = ("\n".join(lines) + "\n").encode()
        return _response(503 if failing else 200, body, head=head_only)

    async def _alert(
        self, route: AlertRoute, stream: trio.abc.Stream, head: bytes, rest: bytes
    ) -> bytes:
        refused = route.refusal(head)
        if refused is not None:
            return refused
        with trio.move_on_after(self._timeout) as scope:
            body = await _read_body(stream, head, rest)
        if scope.cancelled_caught:
            return _response(400, b"body not received in time\n")
        return route.accept(body)

    async def _answer(self, stream: trio.abc.Stream, head: bytes, rest: bytes) -> bytes:
        request_line = head.split(b"\n", 1)[0].decode("latin-1").strip()
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return _response(400, b"bad request line\n")
        method, target, _ = parts
        path = target.split("?", 1)[0]
        if path == "/alertmanager" and self._alerts is not None and method == "POST":
            return await self._alert(self._alerts, stream, head, rest)
        if path not in ("/metrics", "/healthz", "/readyz"):
            return _response(404, b"not found; try /metrics, /healthz or /readyz\n")
        if method not in ("GET", "HEAD"):
            return _response(405, b"method not allowed\n")
        head_only = method == "HEAD"
        if path == "/healthz":
            return _response(200, b"ok\n", head=head_only)
        if path == "/readyz":
            return self._ready(head_only)
        try:
            body = await trio.to_thread.run_sync(
                generate_latest, self._registry, limiter=self._limiter
            )
        except Exception:
            log.exception("rendering /metrics failed")
            return _response(500, b"metrics rendering failed\n", head=head_only)
        return _response(200, body, CONTENT_TYPE_LATEST, head=head_only)


async def serve_http(
    host: str,
    port: int,
    registry: CollectorRegistry,
    readiness: Readiness,
    *,
    read_timeout: float = DEFAULT_READ_TIMEOUT_S,
    alerts: AlertRoute | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve /metrics, /healthz and /readyz on ``host:port`` until cancelled.

    Args:
        host: the address to bind, e.g. ``127.0.0.1`` (use an IP: a name that resolves to
            several addresses opens several listeners, and with port 0 each gets its own port).
        port: the TCP port; 0 picks a free one.
        registry: the registry rendered at /metrics (``Metrics.registry``).
        readiness: the checks behind /readyz.
        read_timeout: seconds a client gets to send its request head, and again to take the
            response, before the connection is closed.
        alerts: serves ``POST /alertmanager`` (None: no such route).
        task_status: receives the bound port once the socket listens.

    Raises:
        ConfigError: the socket cannot listen (the port is in use, or ``host`` is not local).
    """
    handler = HttpHandler(registry, readiness, read_timeout=read_timeout, alerts=alerts)
    async with trio.open_nursery() as nursery:
        try:
            listeners = await nursery.start(partial(trio.serve_tcp, handler, port, host=host))
        except OSError as exc:  # port in use, or an address this host does not have
            reason = (exc.strerror or str(exc)).lower()
            raise ConfigError(
                f"metrics.host/port: cannot listen on {host}:{port}: {reason}"
            ) from None
        bound: int = listeners[0].socket.getsockname()[1]
        log.info("serving /metrics, /healthz and /readyz on http://%s:%d", host, bound)
        task_status.started(bound)
