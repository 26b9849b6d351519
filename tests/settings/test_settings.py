"""Settings: layering, one-line errors, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from finagent.settings import ConfigError, load_settings, redacted_dump


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = load_settings(environ={})
    assert loaded.config_file is None
    assert loaded.settings.metrics.host == "127.0.0.1"
    assert loaded.settings.metrics.port == 9108
    assert loaded.sources["metrics.port"] == "default"


def test_env_beats_yaml_and_cli_beats_env(tmp_path):
    path = _write(tmp_path, "db_path: from-yaml.db\nmetrics:\n  port: 1000\n")
    env = {"FINAGENT_DB_PATH": "from-env.db", "FINAGENT_METRICS__PORT": "2000"}
    loaded = load_settings(path, environ=env)
    assert loaded.settings.db_path == Path("from-env.db")
    assert loaded.settings.metrics.port == 2000
    assert loaded.sources["metrics.port"] == "env FINAGENT_METRICS__PORT"
    loaded = load_settings(path, cli_overrides={"metrics": {"port": 3000}}, environ=env)
    assert loaded.settings.metrics.port == 3000
    assert loaded.sources["metrics.port"] == "command line"


def test_yaml_value_is_attributed_to_the_file(tmp_path):
    path = _write(tmp_path, "metrics:\n  port: 1000\n")
    loaded = load_settings(path, environ={})
    assert loaded.sources["metrics.port"] == str(path)
    assert loaded.sources["metrics.host"] == "default"


def test_config_env_selects_the_file(tmp_path):
    path = _write(tmp_path, "feed: sim\nmetrics: {port: 4444}\n")
    loaded = load_settings(environ={"FINAGENT_CONFIG": str(path)})
    assert loaded.config_file == path
    assert loaded.settings.metrics.port == 4444


def test_missing_file_names_the_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_settings(missing, environ={})


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = _write(tmp_path, "metrics:\n  port: [1, 2\nlog: {}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path} at line ")
    assert "malformed YAML" in message
    assert "\n" not in message


def test_top_level_must_be_a_mapping(tmp_path):
    path = _write(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(path, environ={})


def test_unknown_key_is_rejected_with_its_path(tmp_path):
    path = _write(tmp_path, "metrics:\n  prot: 9\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(info.value) == f"{path}: unknown key 'metrics.prot'"


def test_unknown_top_level_key_is_rejected(tmp_path):
    path = _write(tmp_path, "colour: blue\n")
    with pytest.raises(ConfigError, match=r"unknown key 'colour'"):
        load_settings(path, environ={})


def test_wrong_type_names_key_and_file(tmp_path):
    path = _write(tmp_path, "metrics:\n  port: lots\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: key 'metrics.port':")
    assert "'lots'" in message


def test_wrong_type_from_env_names_the_variable(tmp_path):
    path = _write(tmp_path, "feed: sim\n")
    with pytest.raises(ConfigError, match=r"^env FINAGENT_METRICS__PORT: key 'metrics.port'"):
        load_settings(path, environ={"FINAGENT_METRICS__PORT": "x"})


def test_wrong_cli_value_names_the_command_line(tmp_path):
    path = _write(tmp_path, "feed: sim\n")
    with pytest.raises(ConfigError, match=r"^command line: key 'log.level'"):
        load_settings(path, cli_overrides={"log": {"level": "LOUD"}}, environ={})


def test_secret_in_yaml_is_refused(tmp_path):
    path = _write(tmp_path, "alpaca:\n  key_id: abc\n")
    with pytest.raises(ConfigError, match="FINAGENT_ALPACA__KEY_ID"):
        load_settings(path, environ={})


def test_secrets_come_from_env_and_are_redacted(tmp_path):
    path = _write(tmp_path, "feed: sim\n")
    canary = "canary-secret-7f3a"
    loaded = load_settings(path, environ={"FINAGENT_ALPACA__SECRET_KEY": canary})
    secret = loaded.settings.alpaca.secret_key
    assert secret is not None and secret.get_secret_value() == canary
    dumped = redacted_dump(loaded.settings)
    assert canary not in repr(dumped)
    assert dumped["alpaca"]["secret_key"] == "**********"
    assert canary not in repr(loaded.settings)


def test_empty_file_means_defaults(tmp_path):
    path = _write(tmp_path, "")
    assert load_settings(path, environ={}).settings.feed == "sim"


def test_unreadable_path_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path, environ={})


def test_process_environment_is_restored(tmp_path, monkeypatch):
    monkeypatch.setenv("FINAGENT_FEED", "alpaca")
    path = _write(tmp_path, "feed: sim\n")
    assert load_settings(path, environ={}).settings.feed == "sim"
    assert load_settings(path).settings.feed == "alpaca"


def test_env_patches_one_default_schedule_entry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = load_settings(environ={"FINAGENT_SCHEDULE__PREMARKET_SCAN__AT": "08:45"})
    schedule = loaded.settings.schedule
    assert schedule["premarket_scan"].at == "08:45"
    assert schedule["premarket_scan"].job_type == "scan"
    assert schedule["flatten"].at == "close-5m"


def test_env_patch_with_cron_drops_the_default_at(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"FINAGENT_SCHEDULE__FLATTEN__CRON": "55 15 * * 1-5"}
    entry = load_settings(environ=env).settings.schedule["flatten"]
    assert entry.cron == "55 15 * * 1-5"
    assert entry.at is None


def test_full_yaml_schedule_replaces_the_defaults(tmp_path):
    path = _write(tmp_path, "schedule:\n  only: {job_type: scan, at: '09:00'}\n")
    schedule = load_settings(path, environ={}).settings.schedule
    assert list(schedule) == ["only"]


def test_patch_of_unknown_entry_needs_a_job_type(tmp_path):
    path = _write(tmp_path, "schedule:\n  mystery: {at: '09:00'}\n")
    with pytest.raises(ConfigError, match=r"key 'schedule.mystery.job_type'"):
        load_settings(path, environ={})


def test_log_level_and_format_are_case_insensitive(tmp_path):
    path = _write(tmp_path, "log: {level: warning}\n")
    env = {"FINAGENT_LOG__FORMAT": "JSON"}
    loaded = load_settings(path, cli_overrides={"log": {"level": "debug"}}, environ=env)
    assert loaded.settings.log.level == "DEBUG"
    assert loaded.settings.log.format == "json"
    assert load_settings(path, environ={}).settings.log.level == "WARNING"
    with pytest.raises(ConfigError, match=r"key 'log\.level'"):
        load_settings(_write(tmp_path, "log: {level: 10}\n"), environ={})


def test_sim_start_must_be_an_iso_time(tmp_path):
    path = _write(tmp_path, "sim: {start: next monday}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(info.value) == (
        f"{path}: key 'sim.start': expected an ISO time such as 2025-01-06T09:00-05:00"
        " (got 'next monday')"
    )
    ok = load_settings(cli_overrides={"sim": {"start": "2025-01-06T09:00-05:00"}}, environ={})
    assert ok.settings.sim.start == "2025-01-06T09:00-05:00"
    assert (
        load_settings(_write(tmp_path, "sim: {start: null}\n"), environ={}).settings.sim.start
        is None
    )
