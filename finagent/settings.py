"""Layered settings: embedded defaults < settings.yaml < env (FINAGENT_…) < CLI flags.

This is the only module that reads the process environment. Everything else receives
plain values picked out of :class:`Settings` by ``app.py`` or ``cli.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "ConfigError",
    "LoadedSettings",
    "Settings",
    "load_settings",
    "redacted_dump",
]

ENV_PREFIX = "FINAGENT_"
CONFIG_ENV = "FINAGENT_CONFIG"
DEFAULT_CONFIG = Path("settings.yaml")


class ConfigError(Exception):
    """A settings problem, worded as one line that names the key and where it came from."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsSettings(_Section):
    """Where /metrics, /healthz and /readyz are served."""

    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)
    enabled: bool = True


class LogSettings(_Section):
    """Log format and level; ``auto`` means console on a TTY and JSON otherwise."""

    format: Literal["auto", "console", "json"] = "auto"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class SqliteSettings(_Section):
    """SQLite durability knobs. NORMAL survives a process crash; FULL survives power loss."""

    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    busy_timeout_ms: int = Field(default=5000, ge=0)


class QueueSettings(_Section):
    """Job queue behaviour shared by every backend."""

    lease_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    poll_s: float = Field(default=0.25, gt=0)
    poll_max_s: float = Field(default=2.0, gt=0)
    retry_base_s: float = Field(default=1.0, ge=0)
    retry_max_s: float = Field(default=60.0, ge=0)
    retain_done_s: float = Field(default=7 * 86400.0, ge=0)


class SupervisionSettings(_Section):
    """Restart intensity and back-off of the service supervisor."""

    max_restarts: int = Field(default=3, ge=0)
    max_seconds: float = Field(default=5.0, gt=0)
    backoff_base_s: float = Field(default=0.1, ge=0)
    backoff_max_s: float = Field(default=5.0, ge=0)


class SimSettings(_Section):
    """The simulated market: deterministic from (seed, date)."""

    symbols: int = Field(default=5000, ge=1)
    seed: int = 42
    speed: float = Field(default=1.0, gt=0)
    start: str | None = None


class ExchangeSettings(_Section):
    """The exchange calendar and the zones times are shown in."""

    calendar: str = "XNYS"
    timezone: str = "America/New_York"
    display_timezone: str = "UTC"


class ScheduleEntry(_Section):
    """One schedule entry: a job type fired by a cron expression or a session-relative time."""

    job_type: str
    cron: str | None = None
    at: str | None = None
    tz: str | None = None
    sessions_only: bool = True
    grace_s: float = Field(default=300.0, ge=0)

    @field_validator("at")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None


def _default_schedule() -> dict[str, ScheduleEntry]:
    return {
        "premarket_scan": ScheduleEntry(job_type="scan", at="open-30m", grace_s=1500),
        "time_stop": ScheduleEntry(job_type="time_stop", at="close-30m", grace_s=900),
        "flatten": ScheduleEntry(job_type="flatten", at="close-5m", grace_s=240),
        "daily_report": ScheduleEntry(job_type="report", at="close+5m", grace_s=6 * 3600),
    }


class ScanSettings(_Section):
    """Gap-and-go scan thresholds."""

    min_gap_pct: float = Field(default=4.0, ge=0)
    min_price: float = Field(default=2.0, ge=0)
    max_price: float = Field(default=200.0, gt=0)
    min_premarket_volume: int = Field(default=100_000, ge=0)
    min_relative_volume: float = Field(default=2.0, ge=0)
    max_candidates: int = Field(default=10, ge=1)


class PlanSettings(_Section):
    """Opening-range-breakout planning."""

    range_minutes: int = Field(default=5, ge=1)
    stop_mode: Literal["tighter", "wider"] = "tighter"
    atr_multiple: float = Field(default=1.0, gt=0)
    target_r: float = Field(default=2.0, gt=0)
    time_stop_minutes: int = Field(default=120, ge=1)
    flatten_minutes_before_close: int = Field(default=5, ge=1)


class RiskSettings(_Section):
    """The risk profile every plan is checked against."""

    risk_per_trade_pct: float = Field(default=1.0, gt=0, le=100)
    max_open_positions: int = Field(default=5, ge=0)
    max_notional_per_position: float = Field(default=25_000.0, ge=0)
    max_gross_exposure: float = Field(default=100_000.0, ge=0)
    max_daily_loss: float = Field(default=1_000.0, ge=0)
    max_orders_per_minute: int = Field(default=30, ge=1)
    allowed_sides: tuple[Literal["long", "short"], ...] = ("long", "short")
    pdt_equity_floor: float = Field(default=25_000.0, ge=0)
    enforce_pdt: bool = True
    starting_equity: float = Field(default=100_000.0, gt=0)


class PaperSettings(_Section):
    """Paper broker fill model."""

    # None: next to db_path, as <stem>.paper.db (it plays the broker, so it has its own file).
    db_path: Path | None = None
    slippage_bps: float = Field(default=2.0, ge=0)
    commission_per_share: float = Field(default=0.0, ge=0)


class AlpacaSettings(_Section):
    """Alpaca endpoints; keys come from the environment only."""

    key_id: SecretStr | None = None
    secret_key: SecretStr | None = None
    trading_url: str = "https://paper-api.alpaca.markets"
    data_url: str = "https://data.alpaca.markets"
    data_feed: Literal["iex", "sip"] = "iex"
    rate_per_min: int = Field(default=200, ge=1)
    confirm_live: bool = False
    position_tolerance_shares: int = Field(default=0, ge=0)


class RedisSettings(_Section):
    """Redis Streams backend (scale-out)."""

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")


_SECRET_PATHS: frozenset[str] = frozenset({"alpaca.key_id", "alpaca.secret_key", "redis.url"})


class Settings(BaseSettings):
    """Every setting of finagent. Built only by :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        # compose passes unset secrets as "": treat that as absent, not as an empty key.
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
    )

    db_path: Path = Path("finagent.db")
    feed: Literal["sim", "alpaca"] = "sim"
    broker: Literal["paper", "alpaca_paper", "alpaca_live"] = "paper"
    queue_backend: Literal["sqlite", "redis"] = "sqlite"
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()
    sqlite: SqliteSettings = SqliteSettings()
    queue: QueueSettings = QueueSettings()
    supervision: SupervisionSettings = SupervisionSettings()
    sim: SimSettings = SimSettings()
    exchange: ExchangeSettings = ExchangeSettings()
    schedule: dict[str, ScheduleEntry] = Field(default_factory=_default_schedule)
    scan: ScanSettings = ScanSettings()
    plan: PlanSettings = PlanSettings()
    risk: RiskSettings = RiskSettings()
    paper: PaperSettings = PaperSettings()
    alpaca: AlpacaSettings = AlpacaSettings()
    redis: RedisSettings = RedisSettings()

    @field_validator("schedule", mode="before")
    @classmethod
    def _patch_default_entries(cls, value: Any) -> Any:
        """Let env/CLI patch one default entry (``FINAGENT_SCHEDULE__FLATTEN__AT=close-10m``).

        An entry without ``job_type`` whose name is a default entry is merged into it; a patch
        that sets ``at`` drops the default ``cron`` and vice versa. When every entry given is such
        a patch, the other default entries stay.
        """
        if not isinstance(value, Mapping):
            return value
        defaults = {k: v.model_dump(exclude_defaults=True) for k, v in _default_schedule().items()}
        is_patch = {
            name: isinstance(entry, Mapping) and "job_type" not in entry and name in defaults
            for name, entry in value.items()
        }
        merged: dict[str, Any] = dict(defaults) if value and all(is_patch.values()) else {}
        for name, entry in value.items():
            if not is_patch[name]:
                merged[name] = entry
                continue
            base = dict(defaults[name])
            for trigger, other in (("at", "cron"), ("cron", "at")):
                if trigger in entry:
                    base.pop(other, None)
            merged[name] = {**base, **entry}
        return merged

    # Filled by load_settings through a ClassVar so the YAML source can be swapped per call.
    _yaml_data: ClassVar[dict[str, Any]] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """CLI flags (init) beat env, which beats the YAML file."""
        return (init_settings, env_settings, _DictSource(settings_cls, cls._yaml_data))


class _DictSource(PydanticBaseSettingsSource):
    """A settings source over an already-parsed mapping (the YAML file)."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


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
    for secret in _SECRET_PATHS:
        section, key = secret.split(".")
        if isinstance(data.get(section), dict) and key in data[section]:
            env = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
            raise ConfigError(f"{path}: key '{secret}' is a secret; set it in the env as {env}")
    return data


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
    return ConfigError(f"{where}: key '{key}': {err['msg']}{shown}{more}")


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
    for secret in _SECRET_PATHS:
        section, key = secret.split(".")
        if data.get(section, {}).get(key) is not None:
            data[section][key] = "**********"
    return data
