"""A real HTTP server on 127.0.0.1 (random port) that plays Alpaca, in a background thread.

stdlib ``http.server`` keeps the test dependencies at zero. Each request runs in its own
thread, checks the key headers, applies a queued fault if one matches, then routes.
``state.hold_submit`` (a ``threading.Event``) makes ``POST /v2/orders`` store the order and
then wait for the event before answering: the client times out with the order placed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.alpaca.routes import Reply, route
from tests.fakes.alpaca.state import FakeAlpacaState

__all__ = ["running_fake_alpaca"]


def _handler(state: FakeAlpacaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = dict(parse_qsl(url.query))
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with state.lock:
                state.requests.append((self.command, url.path))
                state.queries.append((url.path, query))
            reply = self._answer(url.path, query, body)
            self._send(reply)

        def _answer(self, path: str, query: dict[str, str], body: Any) -> Reply:
            if (
                self.headers.get("APCA-API-KEY-ID") != state.key_id
                or self.headers.get("APCA-API-SECRET-KEY") != state.secret_key
            ):
                return Reply(401, {"code": 40110000, "message": "request is not authorized"})
            fault = state.take_fault(self.command, path, query)
            if fault is not None:
                return Reply(fault.status, fault.body or {"message": "injected"}, fault.headers)
            with state.lock:
                reply = route(state, self.command, path, query, body)
                hold = state.hold_submit if (self.command, path) == ("POST", "/v2/orders") else None
            if hold is not None:
                hold.wait(30)
            return reply

        def _send(self, reply: Reply) -> None:
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout test)

        do_GET = do_POST = do_DELETE = do_PATCH = _serve

    return Handler


@contextmanager
def running_fake_alpaca(state: FakeAlpacaState) -> Iterator[str]:
    """Serve ``state`` on a random loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="fake-alpaca", daemon=True
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        if state.hold_submit is not None:
            state.hold_submit.set()
        server.shutdown()
        server.server_close()
        thread.join()
