"""`finagent config show|check` and the CLI's one-line errors, in process."""

from __future__ import annotations

import json

import pytest

from finagent import __version__
from finagent.cli import app


def _run(args, capsys):
    with pytest.raises(SystemExit) as info:
        app(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_version(capsys):
    code, out, _ = _run(["--version"], capsys)
    assert code == 0
    assert out.strip() == __version__


def test_config_show_redacts_and_names_sources(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("metrics: {port: 9999}\n")
    monkeypatch.setenv("FINAGENT_ALPACA__KEY_ID", "canary-key-123")
    code, out, _ = _run(["config", "show", "--config", str(cfg)], capsys)
    assert code == 0
    assert f"metrics.port = 9999  # {cfg}" in out
    assert 'alpaca.key_id = "**********"  # env FINAGENT_ALPACA__KEY_ID' in out
    assert "canary-key-123" not in out


def test_config_show_json(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(["config", "show", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["settings"]["metrics"]["port"] == 9108
    assert data["sources"]["db_path"] == "default"


def test_config_check_ok(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(["config", "check"], capsys)
    assert code == 0
    assert out.startswith("ok:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics: {port: [\n", "malformed YAML"),
        ("metrics: {port: high}\n", "key 'metrics.port'"),
        ("metrics: {prot: 1}\n", "unknown key 'metrics.prot'"),
    ],
)
def test_config_check_bad_file_exits_2_with_one_line(tmp_path, capsys, text, expected):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    code, out, err = _run(["config", "check", "--config", str(cfg)], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"finagent: error: {cfg}")
    assert expected in err


def test_missing_config_exits_2(tmp_path, capsys):
    code, _, err = _run(["config", "check", "--config", str(tmp_path / "none.yaml")], capsys)
    assert code == 2
    assert "none.yaml: config file not found" in err
