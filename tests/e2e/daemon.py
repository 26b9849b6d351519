"""Helpers to run ``finagent`` as a real subprocess and follow its JSON log."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FINAGENT = [sys.executable, "-m", "finagent"]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a daemon under ``tmp_path`` (no inherited FINAGENT_ keys)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINAGENT_")}
    env.update(
        {
            "FINAGENT_DB_PATH": str(tmp_path / "finagent.db"),
            "FINAGENT_METRICS__PORT": "0",
            "FINAGENT_LOG__FORMAT": "json",
        }
    )
    env.update(extra)
    return env


def start(args: list[str], tmp_path: Path, **extra: str) -> subprocess.Popen[str]:
    """Start ``finagent ARGS`` with stdout piped (JSON log lines)."""
    return subprocess.Popen(
        [*FINAGENT, *args],
        cwd=tmp_path,
        env=env_for(tmp_path, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_log(
    proc: subprocess.Popen[str], needle: str, timeout: float = 120.0
) -> dict[str, Any]:
    """Read log lines until one whose message contains ``needle``; fail after ``timeout``.

    The deadline is generous: start-up imports the calendar (pandas), opens the databases and
    the paper broker before the tree logs that it runs, and a loaded CI box is slow.
    """
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        record: dict[str, Any] = json.loads(line)
        if needle in record.get("message", ""):
            return record
    raise AssertionError(f"no log line with {needle!r}; got:\n{''.join(seen[-20:])}")


class LoggedProc:
    """One ``finagent`` process (``argv`` after ``python -m finagent``), its JSON log going
    to ``<tmp>/<name>.jsonl``, which the test follows."""

    def __init__(self, tmp: Path, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log = tmp / f"{name}.jsonl"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [*FINAGENT, *argv], cwd=tmp, env=env, stdout=self._out, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip

    def records(self) -> list[dict[str, Any]]:
        """Every complete JSON log line so far."""
        lines = [x for x in self.log.read_text().splitlines(keepends=True) if x.endswith("\n")]
        return [json.loads(x) for x in lines if x.startswith("{")]

    def messages(self) -> list[str]:
        """The log messages so far."""
        return [r.get("message", "") for r in self.records()]

    def lines(self, needle: str) -> list[dict[str, Any]]:
        """The records whose message contains ``needle``."""
        return [r for r in self.records() if needle in r.get("message", "")]

    def alive(self) -> None:
        """Fail with the log's tail if the process exited."""
        assert self.proc.poll() is None, f"{self.name} exited:\n{self.log.read_text()[-3000:]}"

    def stop(self, timeout: float) -> int:
        """SIGTERM (graceful), then reap; kill if it is not gone within ``timeout`` s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=timeout)
        self._out.close()
        return code
