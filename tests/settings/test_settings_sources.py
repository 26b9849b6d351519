"""A schedule that is not a mapping, and the YAML file's settings source."""

from __future__ import annotations

from pathlib import Path

import pytest

from finagent.settings import ConfigError, Settings, load_settings
from finagent.settings.model import _DictSource


@pytest.mark.parametrize("schedule", ["[premarket_scan, flatten]", "close-5m"])
def test_a_schedule_that_is_not_a_mapping_is_one_line_naming_the_file(
    tmp_path: Path, schedule: str
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(f"schedule: {schedule}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={})
    message = str(info.value)
    assert str(config) in message and "key 'schedule'" in message
    assert "valid dictionary" in message and "\n" not in message


def test_the_yaml_source_answers_a_field_with_its_value_never_as_complex() -> None:
    source = _DictSource(Settings, {"feed": "sim", "risk": {"max_positions": 3}})
    assert source.get_field_value(None, "feed") == ("sim", "feed", False)
    assert source.get_field_value(None, "risk") == ({"max_positions": 3}, "risk", False)
    assert source.get_field_value(None, "broker") == (None, "broker", False)
    assert source() == {"feed": "sim", "risk": {"max_positions": 3}}


def test_a_destinations_min_level_from_the_env_is_read_in_any_case() -> None:
    env = {
        "FINAGENT_NOTIFY__DESTINATIONS__PHONE__URL": "json://localhost:9/hook",
        "FINAGENT_NOTIFY__DESTINATIONS__PHONE__MIN_LEVEL": "WARNING",
    }
    phone = load_settings(None, environ=env).settings.notify.destinations["phone"]
    assert phone.min_level == "warning"
    env["FINAGENT_NOTIFY__DESTINATIONS__PHONE__MIN_LEVEL"] = "Loud"
    with pytest.raises(ConfigError, match="min_level"):
        load_settings(None, environ=env)
