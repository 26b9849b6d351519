"""Operator mistakes through the real CLI: one line on stderr, its exit code, no traceback.

Each row runs ``python -m finagent ...`` as a subprocess in a clean environment (see
``tests.e2e.daemon.env_for``), the way an operator would meet the error.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from finagent.adapters.redis.queue import open_redis_queue
from finagent.adapters.redis.state import load_sim_anchor
from finagent.adapters.sqlite.schema import connect_writer
from finagent.adapters.sqlite.state import SimAnchor, load_anchor, read_anchor
from finagent.domain.jobs import QueuePolicy
from tests.e2e.daemon import FINAGENT, env_for, start, wait_for_log
from tests.redis_server import redis_server

__all__ = ["redis_server"]  # the fixture, used by name below

pytestmark = pytest.mark.slow

EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_PIPE = 2, 3, 141


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def anchor_db(path: Path, speed: float = 10.0) -> SimAnchor:
    """A database whose sim timeline is already anchored (as a first ``up`` leaves it)."""
    conn = connect_writer(path)
    try:
        return load_anchor(conn, SimAnchor(time.time(), 1736172000.0, speed))
    finally:
        conn.close()


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``finagent ARGS`` to completion, in ``tmp_path``, with a clean environment plus ``env``."""
    return subprocess.run(
        [*FINAGENT, *args],
        cwd=tmp_path,
        env=env_for(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


# (id, argv, extra env, exit code, text the one line must hold)
ROWS = [
    ("bad-flag-value", ["up", "--speed", "fast"], {}, EXIT_USAGE, "--speed"),
    ("unknown-flag", ["up", "--bogus"], {}, EXIT_USAGE, "Unknown option: --bogus"),
    ("unknown-command", ["nosuch"], {}, EXIT_USAGE, 'Unknown command "nosuch"'),
    ("bad-start", ["up", "--start", "garbage"], {}, EXIT_USAGE, "key 'sim.start'"),
    (
        "bad-start-env",
        ["up"],
        {"FINAGENT_SIM__START": "garbage"},
        EXIT_USAGE,
        "env FINAGENT_SIM__START",
    ),
    ("bad-log-level", ["up", "--log-level", "loud"], {}, EXIT_USAGE, "key 'log.level'"),
    ("unknown-date", ["schedule", "--from", "2026-13-45"], {}, EXIT_USAGE, "--from"),
    (
        "date-out-of-range",
        ["schedule", "--from", "0001-01-02"],
        {},
        EXIT_USAGE,
        "outside 1678-01-01",
    ),
    (
        "days-out-of-range",
        ["schedule", "--days", "100000"],
        {},
        EXIT_USAGE,
        "--days must be between 1 and 3660",
    ),
    ("days-zero", ["schedule", "--days", "0"], {}, EXIT_USAGE, "--days"),
    ("bad-at", ["up", "--at", "nope=08:45"], {}, EXIT_USAGE, "unknown schedule entry 'nope'"),
    (
        "missing-directory",
        ["up", "--db", "/nonexistent/dir/f.db"],
        {},
        EXIT_USAGE,
        "/nonexistent/dir is not a directory",
    ),
    (
        "missing-db",
        ["report", "--db", "/nonexistent/f.db"],
        {},
        EXIT_USAGE,
        "no such database file",
    ),
    (
        "services-on-sqlite",
        ["up", "--services", "scanner"],
        {},
        EXIT_USAGE,
        "--services needs queue_backend: redis",
    ),
    (
        "worker-on-sqlite",
        ["worker", "--services", "scoring"],
        {},
        EXIT_USAGE,
        "needs queue_backend: redis",
    ),
    ("missing-config", ["up", "--config", "nope.yaml"], {}, EXIT_USAGE, "config file not found"),
]


@pytest.mark.parametrize(("argv", "env", "code", "needle"),
                         [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])  # fmt: skip
def test_a_user_error_is_one_line_and_its_exit_code(tmp_path, argv, env, code, needle):
    done = run(argv, tmp_path, **env)
    assert_one_line(done, code, needle)


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    """Exactly one ``finagent: error:`` line on stderr holding ``needle``; ``code``; no trace."""
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("finagent: error: "), lines[0]
    assert needle in lines[0]
    assert done.returncode == code, done.stderr


def test_metrics_port_in_use(tmp_path, busy_port):
    done = run(["up"], tmp_path, FINAGENT_METRICS__PORT=str(busy_port))
    assert_one_line(
        done, EXIT_USAGE, f"cannot listen on 127.0.0.1:{busy_port}: address already in use"
    )


def test_metrics_port_in_use_via_the_config_file(tmp_path, busy_port):
    (tmp_path / "s.yaml").write_text(f"metrics: {{port: {busy_port}}}\n")
    env = {k: v for k, v in env_for(tmp_path).items() if k != "FINAGENT_METRICS__PORT"}
    done = subprocess.run(
        [*FINAGENT, "up", "--config", "s.yaml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert_one_line(done, EXIT_USAGE, f"127.0.0.1:{busy_port}")


@pytest.mark.parametrize("command", [["up"], ["worker", "--services", "scoring"]])
def test_redis_unreachable_at_start(tmp_path, closed_port, command):
    url = f"redis://127.0.0.1:{closed_port}/0"
    done = run(command, tmp_path, FINAGENT_QUEUE_BACKEND="redis", FINAGENT_REDIS__URL=url)
    assert_one_line(done, EXIT_UNAVAILABLE, "redis unavailable")
    assert "FINAGENT_REDIS__URL" in done.stderr
    assert str(closed_port) not in done.stderr  # the URL is a secret: never printed


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["up", "--speed", "20"], {}, "sim.speed 20 (command line)"),
        (["up"], {"FINAGENT_SIM__SPEED": "20"}, "sim.speed 20 (env FINAGENT_SIM__SPEED)"),
        (["up", "--start", "2025-03-03T09:00-05:00"], {}, "sim.start 2025-03-03T09:00-05:00"),
    ],
)
def test_speed_or_start_on_an_anchored_timeline_is_refused_with_the_hint(
    tmp_path, argv, env, named
):
    anchored = anchor_db(tmp_path / "finagent.db")
    done = run(argv, tmp_path, **env)
    assert_one_line(done, EXIT_USAGE, named)
    assert "add --reset-timeline" in done.stderr
    assert read_anchor(tmp_path / "finagent.db") == anchored  # refused before anything ran


@pytest.mark.parametrize("command", [["config", "show", "--json"], ["schedule", "--days", "30"]])
def test_a_closed_pipe_ends_quietly(tmp_path, command):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`| head`) is gone before the first write
    try:
        done = subprocess.run(
            [*FINAGENT, *command], cwd=tmp_path, env=env_for(tmp_path), stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == EXIT_PIPE


def test_reset_timeline_drops_the_anchor_so_the_new_speed_applies(tmp_path):
    anchor_db(tmp_path / "finagent.db", speed=10.0)
    proc = start(["up", "--speed", "20", "--reset-timeline"], tmp_path)
    try:
        record = wait_for_log(proc, "sim timeline:")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.communicate()
    assert "at 20x" in record["message"]
    stored = read_anchor(tmp_path / "finagent.db")
    assert stored is not None
    assert stored.speed == 20.0


def test_the_same_speed_again_continues_the_timeline(tmp_path):
    anchored = anchor_db(tmp_path / "finagent.db", speed=10.0)
    proc = start(["up", "--speed", "10"], tmp_path)
    try:
        record = wait_for_log(proc, "sim timeline:")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.communicate()
    assert "at 10x" in record["message"]
    assert read_anchor(tmp_path / "finagent.db") == anchored


def test_on_redis_a_new_speed_is_refused_then_applied_after_a_reset(tmp_path, redis_server):
    env = {"FINAGENT_QUEUE_BACKEND": "redis", "FINAGENT_REDIS__URL": redis_server.url}

    async def anchor() -> None:
        async with open_redis_queue(redis_server.url, QueuePolicy(1.0, 1), time.time) as queue:
            await load_sim_anchor(queue, time.time(), 1736172000.0, 10.0)

    trio.run(anchor)
    refused = run(["up", "--speed", "20"], tmp_path, **env)
    assert_one_line(refused, EXIT_USAGE, "redis already anchors the sim timeline")
    proc = start(["up", "--speed", "20", "--reset-timeline"], tmp_path, **env)
    try:
        record = wait_for_log(proc, "sim timeline:")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.communicate()
    assert "at 20x (anchored in redis)" in record["message"]
