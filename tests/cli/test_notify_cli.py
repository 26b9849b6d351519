"""`finagent notify test`, settings of destinations, and the canary: a URL's token never shows."""

from __future__ import annotations

import pytest

from tests.cli_helpers import run_cli as _run
from tests.notify_receiver import open_receiver

CANARY = "CANARYtok3n0f1notify"


def _env(monkeypatch: pytest.MonkeyPatch, name: str, url: str) -> None:
    monkeypatch.setenv(f"FINAGENT_NOTIFY__DESTINATIONS__{name.upper()}__URL", url)


def test_notify_test_reports_each_destination_and_exits_1_if_any_failed(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_receiver([400]) as bad, open_receiver() as good:
        _env(monkeypatch, "ok", good.url(f"hook?token={CANARY}"))
        _env(monkeypatch, "broken", bad.url(f"hook/{CANARY}"))
        code, out, err = _run(["notify", "test"], capsys)
    assert code == 1
    assert "ok: delivered" in out
    assert "broken: failed: refused (HTTP 400)" in out
    assert good.delivered[0]["title"] == "finagent test"
    assert CANARY not in out + err


def test_notify_test_to_one_destination(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with open_receiver() as rx:
        _env(monkeypatch, "a", rx.url())
        _env(monkeypatch, "b", "json://127.0.0.1:9/nobody")
        code, out, _ = _run(["notify", "test", "--to", "a"], capsys)
        assert (code, out.strip()) == (0, "a: delivered")
        code, _, err = _run(["notify", "test", "--to", "zz"], capsys)
    assert code == 2
    assert err.strip() == "finagent: error: --to zz: no such destination (known: a, b)"


def test_bad_destinations_are_one_line_errors(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["notify", "test"], capsys)
    assert (code, err.strip()) == (
        2, "finagent: error: no notification destination configured (notify.destinations)",
    )  # fmt: skip
    cfg = tmp_path / "s.yaml"
    cfg.write_text("notify: {destinations: {phone: {kinds: [order_filled]}}}\n")
    code, _, err = _run(["notify", "test", "--config", str(cfg)], capsys)
    assert "notify.destinations.phone.url: not set; set it in the env as" in err
    _env(monkeypatch, "phone", "json://127.0.0.1:9/h")
    cfg.write_text("notify: {destinations: {phone: {kinds: [fills]}}}\n")
    code, _, err = _run(["notify", "test", "--config", str(cfg)], capsys)
    assert code == 2
    assert "notify.destinations.phone.kinds: unknown kind 'fills'" in err
    cfg.write_text(f"notify: {{destinations: {{phone: {{url: 'json://x/{CANARY}'}}}}}}\n")
    code, _, err = _run(["notify", "test", "--config", str(cfg)], capsys)
    assert code == 2
    assert "'notify.destinations.phone.url' is a secret" in err
    assert CANARY not in err


def test_config_show_never_shows_a_destination_url(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _env(monkeypatch, "phone", f"tgram://{CANARY}/12345")
    code, out, err = _run(["config", "show"], capsys)
    assert code == 0
    assert "notify" in out
    assert CANARY not in out + err


def test_a_destination_token_is_scrubbed_from_log_lines() -> None:
    import io
    import logging

    from finagent.app.notify import register_notify_secrets
    from finagent.observability import configure_logging
    from finagent.settings import load_settings

    url = f"tgram://{CANARY}/12345"
    env = {"FINAGENT_NOTIFY__DESTINATIONS__PHONE__URL": url}
    register_notify_secrets(load_settings(environ=env).settings)
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("json", "INFO", out)
        logging.getLogger("finagent.test").warning("Failed to send to bot %s", CANARY)
        logging.getLogger("finagent.test").info("url %s", url)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    assert CANARY not in out.getvalue()
    assert out.getvalue().count("**********") == 2
