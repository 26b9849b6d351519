"""A real ``redis-server`` for tests, on a random loopback port, in a temporary directory.

``redis-server`` must be on PATH. When it is missing the tests that need it are skipped, unless
``FINAGENT_REQUIRE_REDIS=1`` (CI), where they fail. Waiting for the server is bounded polling
of an external process (PING), never a sleep standing in for a condition.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["RedisServer", "redis_server", "require_redis_server", "shared_redis_server"]

_START_TIMEOUT_S = 10.0


def require_redis_server() -> str:
    """Path of redis-server; skips the test (or fails under FINAGENT_REQUIRE_REDIS=1)."""
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("FINAGENT_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not on PATH and FINAGENT_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not on PATH")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process with AOF in ``directory``; restartable on the same port."""

    def __init__(self, directory: Path, *, fsync: str = "everysec") -> None:
        self.binary = require_redis_server()
        self.directory = directory
        self.fsync = fsync
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait (bounded) until it answers PING."""
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--appendfsync", self.fsync,
            "--dir", str(self.directory), "--protected-mode", "no", "--loglevel", "warning",
        ]  # fmt: skip
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = (self.directory / "redis.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"redis-server did not start:\n{text}")
            time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL the server (no shutdown save, no AOF rewrite) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        """Terminate the server and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


@contextlib.contextmanager
def running_redis(directory: Path, *, fsync: str = "everysec") -> Iterator[RedisServer]:
    """A started server, stopped at exit."""
    server = RedisServer(directory, fsync=fsync)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server for one test (AOF in tmp_path)."""
    data = tmp_path / "redis"
    data.mkdir()
    with running_redis(data) as server:
        yield server


_shared: RedisServer | None = None


def shared_redis_server() -> RedisServer:
    """One server per test process (tests isolate by key namespace); stopped at exit."""
    global _shared
    if _shared is None or _shared.proc is None or _shared.proc.poll() is not None:
        directory = Path(tempfile.mkdtemp(prefix="finagent-redis-"))
        server = RedisServer(directory)
        server.start()
        _shared = server

        def _cleanup() -> None:
            server.stop()
            shutil.rmtree(directory, ignore_errors=True)

        atexit.register(_cleanup)
    return _shared
