"""The image's entrypoint, env, paths and health check, run without Docker (no daemon here).

The Dockerfile's ``ENV`` and ``CMD`` start ``finagent up`` with the image's paths mapped to
temporary directories: ``/data`` is empty, as a fresh ``-v "$PWD/data:/data"`` mount is, and
``/etc/finagent`` holds the baked ``settings.yaml``. The ``HEALTHCHECK`` command is then run as
written, and the README's ``docker run`` line is checked against the same paths.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from tests.e2e.daemon import wait_for_log

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def dockerfile() -> dict[str, object]:
    """``ENV`` (a dict), ``CMD``, ``HEALTHCHECK`` (exec form lists), ``COPY`` lines, ``VOLUME``."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    out: dict[str, object] = {"ENV": env, "COPY": []}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
        elif word in ("CMD", "VOLUME"):
            out[word] = json.loads(rest)
        elif word == "HEALTHCHECK":
            out[word] = json.loads(rest[rest.index("CMD ") + 4 :])
        elif word == "COPY":
            out["COPY"].append(rest.split())
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_fresh_data_volume_hides_no_setting_and_the_health_check_answers(tmp_path):
    image = dockerfile()
    env: dict[str, str] = image["ENV"]
    (volume,) = image["VOLUME"]
    config = PurePosixPath(env["FINAGENT_CONFIG"])
    assert not config.is_relative_to(volume), "a mounted volume would hide the config"
    assert PurePosixPath(env["FINAGENT_DB_PATH"]).parent == PurePosixPath(volume)
    baked = [c for c in image["COPY"] if c[-1] == str(config)]
    assert baked == [["settings.yaml", str(config)]]

    # The image's paths, mapped: an empty data dir and the baked config in its own dir.
    data, etc = tmp_path / "data", tmp_path / "etc-finagent"
    data.mkdir()
    etc.mkdir()
    shutil.copy(ROOT / "settings.yaml", etc / config.name)
    mapped = {str(volume): str(data), str(config.parent): str(etc)}

    def remap(value: str) -> str:
        for inside, outside in mapped.items():
            if value.startswith(inside + "/"):
                return outside + value[len(inside) :]
        return value

    port = free_port()
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("FINAGENT_")}
    run_env.update({k: remap(v) for k, v in env.items()})
    run_env.update(FINAGENT_METRICS__PORT=str(port), FINAGENT_LOG__FORMAT="json")
    cmd: list[str] = image["CMD"]
    assert cmd[0] == "finagent"
    proc = subprocess.Popen(
        [sys.executable, "-m", "finagent", *cmd[1:]], cwd=tmp_path, env=run_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_log(proc, "supervision tree 'root' running")
        health: list[str] = image["HEALTHCHECK"]
        assert health[0] == "python"
        check = subprocess.run(
            [sys.executable, *health[1:]], env=run_env, capture_output=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert "Traceback" not in err
    assert (data / "finagent.db").is_file()
    assert sorted(p.name for p in etc.iterdir()) == ["settings.yaml"]  # nothing written there


def test_the_health_check_fails_when_nothing_answers():
    health: list[str] = dockerfile()["HEALTHCHECK"]
    env = {**os.environ, "FINAGENT_METRICS__PORT": str(free_port())}
    check = subprocess.run([sys.executable, *health[1:]], env=env, capture_output=True, timeout=30)
    assert check.returncode != 0


def test_the_readme_docker_line_mounts_only_the_image_volume():
    readme = (ROOT / "README.md").read_text()
    (line,) = re.findall(r"`(docker build [^`]*docker run [^`]*)`", readme)
    run = shlex.split(line.split("&&")[1])
    mounts = [run[i + 1] for i, arg in enumerate(run) if arg == "-v"]
    image = dockerfile()
    assert [m.split(":")[1] for m in mounts] == image["VOLUME"]
    assert run[-1] == "finagent"


def test_the_build_context_leaves_out_venvs_builds_and_databases():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for pattern in (".venv", "build", "**/*.db", ".git"):
        assert pattern in ignored
    for needed in ("requirements.lock", "pyproject.toml", "README.md", "finagent", "actors"):
        assert needed not in ignored


def test_the_image_installs_from_the_lock_with_hashes():
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-deps --require-hashes -r requirements.lock" in text
    assert "pip install --no-deps --no-build-isolation ." in text
    lock = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^([a-z0-9-]+)==", lock, flags=re.M)
    assert {"trio", "pydantic-settings", "setuptools"} <= set(pins)
    assert "--hash=sha256:" in lock
