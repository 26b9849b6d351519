"""The settings model: every section, its defaults and bounds, and the sources' order.

:class:`Settings` reads the environment through pydantic-settings; :mod:`.loading` builds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["CONFIG_ENV", "DEFAULT_CONFIG", "ENV_PREFIX", "SECRET_PATHS", "Settings"]

ENV_PREFIX = "FINAGENT_"
CONFIG_ENV = "FINAGENT_CONFIG"
DEFAULT_CONFIG = Path("settings.yaml")


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

    @field_validator("format", "level", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        # `--log-level debug` and `FINAGENT_LOG__FORMAT=JSON` mean what they say.
        if not isinstance(value, str):
            return value
        return value.lower() if value.lower() in ("auto", "console", "json") else value.upper()


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

    @field_validator("start")
    @classmethod
    def _iso_time(cls, value: str | None) -> str | None:
        # Checked here so a typo stops start-up with one line, not deep in the clock set-up.
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("expected an ISO time such as 2025-01-06T09:00-05:00") from None
        return value


class ReplaySettings(_Section):
    """The recorded market-data store read by ``feed: replay`` (see docs/backtest.md)."""

    path: Path = Path("market.db")


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
    #: PINGs tried again at start when Redis does not answer (0.5 s apart, doubling up to 4 s)
    connect_retries: int = Field(default=5, ge=0, le=100)
    #: longest wait for one connect, at start and on every reconnect
    connect_timeout_s: float = Field(default=5.0, gt=0, le=300)


class NotifyDestination(_Section):
    """One place notifications go; its Apprise URL embeds a token, so it comes from the env."""

    #: ``FINAGENT_NOTIFY__DESTINATIONS__<NAME>__URL``, e.g. ``tgram://<bot token>/<chat id>``
    url: SecretStr | None = None
    #: event kinds it wants (docs/operating.md, "Notifications"); ``all`` for every kind
    kinds: Annotated[tuple[str, ...], NoDecode] = ("all",)
    min_level: Literal["info", "warning", "critical"] = "info"

    @field_validator("kinds", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # FINAGENT_NOTIFY__DESTINATIONS__PHONE__KINDS=order_filled,loss_limit reads as a list
        # (NoDecode: the env source would parse it as JSON and fail); a JSON list still works.
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return json.loads(value)
        return tuple(v.strip() for v in value.split(","))

    @field_validator("min_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class NotifySettings(_Section):
    """Where notifications go and how fast; no destination means nothing is sent."""

    destinations: dict[str, NotifyDestination] = Field(default_factory=dict)
    #: per destination: messages a minute after a burst of ``burst`` (past it: one summary)
    rate_per_minute: float = Field(default=20.0, gt=0)
    burst: int = Field(default=10, ge=1)
    #: longest wait for one delivery before it counts as failed (and is retried)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: at a clean stop, how long the daemon waits for its "stopped" message to go out
    stop_grace_s: float = Field(default=3.0, ge=0, le=60)
    #: the bearer token ``POST /alertmanager`` requires (None: accepted on loopback only)
    webhook_token: SecretStr | None = None


class DashboardSettings(_Section):
    """``finagent dashboard``: where it listens and how often its pages refresh."""

    host: str = "127.0.0.1"
    port: int = Field(default=8501, ge=0, le=65535)
    refresh_s: float = Field(default=5.0, ge=1, le=3600)
    #: required when ``host`` is not a loopback address; from FINAGENT_DASHBOARD__PASSWORD only
    password: SecretStr | None = None


SECRET_PATHS: frozenset[str] = frozenset(
    {
        "alpaca.key_id",
        "alpaca.secret_key",
        "redis.url",
        "notify.webhook_token",
        "dashboard.password",
    }
)


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
    feed: Literal["sim", "alpaca", "replay"] = "sim"
    broker: Literal["paper", "alpaca_paper", "alpaca_live"] = "paper"
    queue_backend: Literal["sqlite", "redis"] = "sqlite"
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()
    sqlite: SqliteSettings = SqliteSettings()
    queue: QueueSettings = QueueSettings()
    supervision: SupervisionSettings = SupervisionSettings()
    sim: SimSettings = SimSettings()
    replay: ReplaySettings = ReplaySettings()
    exchange: ExchangeSettings = ExchangeSettings()
    schedule: dict[str, ScheduleEntry] = Field(default_factory=_default_schedule)
    scan: ScanSettings = ScanSettings()
    plan: PlanSettings = PlanSettings()
    risk: RiskSettings = RiskSettings()
    paper: PaperSettings = PaperSettings()
    alpaca: AlpacaSettings = AlpacaSettings()
    redis: RedisSettings = RedisSettings()
    notify: NotifySettings = NotifySettings()
    dashboard: DashboardSettings = DashboardSettings()

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
