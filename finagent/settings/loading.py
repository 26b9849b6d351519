"""Loading the settings: embedded defaults < settings.yaml < env (FINAGENT_…) < CLI flags.

With :mod:`.model`, the only code that reads the process environment. Everything else receives
plain values picked out of :class:`Settings` by ``app.py`` or ``cli.py``. Every problem becomes
one :class:`ConfigError` line naming the key and the file or variable at fault.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from finagent.domain.errors import ConfigError
from finagent.settings.model import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    ENV_PREFIX,
    SECRET_PATHS,
    Settings,
)

__all__ = ["ConfigError", "LoadedSettings", "load_settings", "redacted_dump"]


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """Settings plus where they came from, for ``config show``."""

    settings: Settings
    config_file: Path | None
    sources: Mapping[str, str]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise ConfigError(f"{path}{where}: malformed YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    for secret in SECRET_PATHS:
        section, key = secret.split(".")
        if isinstance(data.get(section), dict) and key in data[section]:
            env = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
            raise ConfigError(f"{path}: key '{secret}' is a secret; set it in the env as {env}")
    _refuse_notify_urls(path, data)
    return data


def _refuse_notify_urls(path: Path, data: Mapping[str, Any]) -> None:
    """A destination's URL embeds its token: like every secret, it comes from the env only."""
    notify = data.get("notify")
    found = notify.get("destinations") if isinstance(notify, dict) else None
    for name, dest in (found if isinstance(found, dict) else {}).items():
        if isinstance(dest, dict) and "url" in dest:
            env = f"{ENV_PREFIX}NOTIFY__DESTINATIONS__{str(name).upper()}__URL"
            raise ConfigError(
                f"{path}: key 'notify.destinations.{name}.url' is a secret; set it in the env"
                f" as {env}"
            )


def _env_keys(environ: Mapping[str, str]) -> dict[str, str]:
    """Map dotted setting paths to the env variable that sets them."""
    found: dict[str, str] = {}
    for name in environ:
        if name.startswith(ENV_PREFIX) and name != CONFIG_ENV:
            dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            found[dotted] = name
    return found


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def _where(
    key: str, config_file: Path | None, env: Mapping[str, str], cli: Mapping[str, Any]
) -> str:
    flat_cli = _flatten(cli)
    if any(key == k or key.startswith(f"{k}.") or k.startswith(f"{key}.") for k in flat_cli):
        return "command line"
    for dotted, name in env.items():
        if key == dotted or key.startswith(f"{dotted}.") or dotted.startswith(f"{key}."):
            return f"env {name}"
    return str(config_file) if config_file else "defaults"


def _explain(
    exc: ValidationError, config_file: Path | None, env: Mapping[str, str], cli: Mapping[str, Any]
) -> ConfigError:
    err = exc.errors()[0]
    key = ".".join(str(part) for part in err["loc"]) or "<root>"
    where = _where(key, config_file, env, cli)
    if err["type"] == "extra_forbidden":
        return ConfigError(f"{where}: unknown key '{key}'")
    given = err.get("input")
    shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    # A validator's ValueError reads "Value error, <its text>": the text alone says it.
    msg = str(err["msg"]).removeprefix("Value error, ")
    return ConfigError(f"{where}: key '{key}': {msg}{shown}{more}")


def load_settings(
    config: Path | None = None,
    cli_overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Build the effective settings.

    Args:
        config: ``--config PATH``; falls back to ``FINAGENT_CONFIG``, then ./settings.yaml if
            it exists, then the embedded defaults alone.
        cli_overrides: nested mapping of values given as CLI flags (highest precedence).
        environ: the environment to read (defaults to the process environment).

    Raises:
        ConfigError: one line naming the key and the file or variable at fault.
    """
    env = dict(os.environ if environ is None else environ)
    explicit = config or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    path = explicit if explicit else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    yaml_data = _read_yaml(path) if path else {}
    cli = dict(cli_overrides or {})
    env_keys = _env_keys(env)
    Settings._yaml_data = yaml_data
    saved_environ = dict(os.environ)
    try:
        if environ is not None:
            os.environ.clear()
            os.environ.update(environ)
        settings = Settings(**cli)
    except ValidationError as exc:
        raise _explain(exc, path, env_keys, cli) from None
    finally:
        if environ is not None:
            os.environ.clear()
            os.environ.update(saved_environ)
        Settings._yaml_data = {}
    sources: dict[str, str] = {}
    flat_yaml = _flatten(yaml_data)
    for key in _flatten(settings.model_dump(mode="json")):
        if key in flat_yaml or any(key.startswith(f"{k}.") for k in flat_yaml):
            sources[key] = str(path)
        else:
            sources[key] = "default"
        where = _where(key, None, env_keys, cli)
        if where != "defaults":
            sources[key] = where
    return LoadedSettings(settings=settings, config_file=path, sources=sources)


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """Settings as plain JSON-able data with every secret replaced by ``'**********'``."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    for secret in SECRET_PATHS:
        section, key = secret.split(".")
        if data.get(section, {}).get(key) is not None:
            data[section][key] = "**********"
    return data
