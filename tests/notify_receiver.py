"""A real webhook receiver on 127.0.0.1 for notification tests: answers a script of statuses.

Apprise's ``json://127.0.0.1:<port>/hook`` POSTs ``{"title", "message", "type", ...}``; the
receiver records each body it answered 2xx to (``delivered``) and every request (``seen``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Receiver", "open_receiver"]


@dataclass
class Receiver:
    """What the server answered and recorded; ``statuses`` is consumed, then ``then`` forever."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: the status once ``statuses`` is used up (400: a destination that refuses everything)
    then: int = 200
    #: called with each body before answering; False: record it as seen, hang up unanswered
    before: Callable[[dict[str, Any]], bool] | None = None

    def url(self, path: str = "hook") -> str:
        """The Apprise URL of this receiver."""
        return f"json://127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        """Titles of the delivered messages, in order."""
        with self.lock:
            return [d["title"] for d in self.delivered]


@contextmanager
def open_receiver(statuses: list[int] | None = None, then: int = 200) -> Iterator[Receiver]:
    """Serve on a free loopback port in a thread until the block ends."""
    receiver = Receiver(statuses=list(statuses or []), then=then)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            if receiver.before is not None and not receiver.before(body):
                with receiver.lock:
                    receiver.seen.append(body)
                self.close_connection = True
                return
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.then
                receiver.seen.append(body)
                receiver.paths.append(self.path)
                if 200 <= status < 300:
                    receiver.delivered.append(body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
