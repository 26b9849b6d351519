"""The monitoring/ files pass Prometheus's own checker, and every alert fires when it should."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.monitoring.prometheus_helpers import MONITORING, require_binary


@pytest.mark.parametrize(
    "args",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "config", "prometheus.local.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ],
    ids=["config", "config-local", "rules", "rule-tests"],
)
def test_promtool_accepts(args):
    promtool = require_binary("promtool")
    done = subprocess.run(
        [promtool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_amtool_accepts_the_alertmanager_config():
    # amtool comes with Debian's prometheus-alertmanager (42 MB installed): not in .ci/run's
    # list, so this skips where it is absent, like the promtool tests.
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (apt-get install prometheus-alertmanager)")
    done = subprocess.run(
        [amtool, "check-config", "alertmanager.yml"],
        cwd=MONITORING, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
