"""Run the real ``prometheus`` / ``promtool`` binaries from tests (Debian package ``prometheus``).

Tests that need them skip when the binary is missing, except under
``FINAGENT_REQUIRE_PROMETHEUS=1`` (set by CI), where a missing binary is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
READY_ATTEMPTS = 300  # x 0.1 s: Prometheus is ready in about a second here
QUERY_ATTEMPTS = 150  # x 0.1 s: a few 1 s scrape/evaluation rounds


def require_binary(name: str) -> str:
    """Path of ``name``; skip the test if absent, or fail when FINAGENT_REQUIRE_PROMETHEUS=1."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("FINAGENT_REQUIRE_PROMETHEUS") == "1":
        pytest.fail(
            f"{name} not found but FINAGENT_REQUIRE_PROMETHEUS=1 (apt-get install prometheus)"
        )
    pytest.skip(f"{name} not installed (apt-get install prometheus)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Prometheus:
    """A running Prometheus on loopback and an HTTP client for its API."""

    url: str
    client: httpx.AsyncClient

    async def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return ``data``; raises on an API error."""
        response = await self.client.get(f"{self.url}/api/v1/{path}", params=params)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the vector result."""
        data = await self.api("query", query=expr)
        return data["result"]

    async def wait_for(self, fetch: Callable[[], Any], check: Callable[[Any], bool]) -> Any:
        """Poll ``await fetch()`` until ``check(value)``; fails after :data:`QUERY_ATTEMPTS`."""
        value = None
        for _ in range(QUERY_ATTEMPTS):
            value = await fetch()
            if check(value):
                return value
            await trio.sleep(0.1)  # polling a real external process between scrapes
        raise AssertionError(f"condition never met; last value: {value!r}")


def write_config(directory: Path, target: str, *, rule_files: list[Path] | None = None) -> Path:
    """A Prometheus config scraping ``target`` (host:port) every second as job ``finagent``."""
    rules = "".join(f"  - {path}\n" for path in rule_files or [])
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        + (f"rule_files:\n{rules}" if rules else "")
        + "scrape_configs:\n  - job_name: finagent\n    scrape_interval: 1s\n"
        + f"    scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
    )
    return config


@asynccontextmanager
async def running_prometheus(
    directory: Path, target: str, *, rule_files: list[Path] | None = None
) -> AsyncIterator[Prometheus]:
    """Start ``prometheus`` on a free loopback port scraping ``target``; stop it on exit."""
    binary = require_binary("prometheus")
    config = write_config(directory, target, rule_files=rule_files)
    port = free_port()
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
        process = await trio.lowlevel.open_process(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                server = Prometheus(f"http://127.0.0.1:{port}", client)
                await _wait_ready(server, process, log_path)
                yield server
        finally:
            process.terminate()
            with trio.CancelScope(shield=True), trio.move_on_after(10) as waited:
                await process.wait()
            if waited.cancelled_caught:
                process.kill()


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-3000:]


async def _wait_ready(server: Prometheus, process: trio.Process, log_path: Path) -> None:
    for _ in range(READY_ATTEMPTS):
        if process.returncode is not None:
            raise AssertionError(f"prometheus exited:\n{_tail(log_path)}")
        try:
            if (await server.client.get(f"{server.url}/-/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await trio.sleep(0.1)  # polling a real external process while it starts
    raise AssertionError(f"prometheus never became ready:\n{_tail(log_path)}")
