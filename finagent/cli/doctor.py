"""``finagent doctor``: can this configuration trade with Alpaca? One line per check.

Checks: the keys are set, live mode is confirmed, the account answers (keys accepted, not
blocked), the local clock agrees with ``/v2/clock``, ``/v2/calendar`` agrees with the local
exchange calendar for the next sessions, and the market data API answers. Prints
``ok``/``FAIL`` per check and returns 1 if any failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from cyclopts import App, Parameter

from finagent.cli.common import load

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import httpx

    from finagent.adapters.alpaca.http import AlpacaHttp
    from finagent.ports.calendar import ExchangeCalendar
    from finagent.settings import Settings

__all__ = ["Check", "doctor", "doctor_app", "run_checks"]

NY = ZoneInfo("America/New_York")

doctor_app = App(name="doctor", help="Check Alpaca connectivity, keys, clock and calendar.")


@dataclass(frozen=True, slots=True)
class Check:
    """One check's verdict and a short detail."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        """``ok    name: detail`` or ``FAIL  name: detail``."""
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


async def _account(trading: AlpacaHttp) -> Check:
    raw = await trading.get_json("/v2/account", "GET /v2/account")
    blocked = bool(raw.get("trading_blocked") or raw.get("account_blocked"))
    status = str(raw.get("status"))
    detail = f"{status}, equity {raw.get('equity')}, buying power {raw.get('buying_power')}"
    ok = status == "ACTIVE" and not blocked
    return Check("account", ok, detail + (", trading blocked" if blocked else ""))


async def _clock(trading: AlpacaHttp, now: Callable[[], datetime], max_skew_s: float) -> Check:
    from finagent.adapters.alpaca.wire import timestamp

    before = now()
    raw = await trading.get_json("/v2/clock", "GET /v2/clock")
    after = now()
    local = before + (after - before) / 2
    skew = (timestamp(raw["timestamp"]) - local).total_seconds()
    detail = f"skew {skew:+.2f}s against the broker (max {max_skew_s:g}s)"
    return Check("clock", abs(skew) <= max_skew_s, detail)


def _hhmm(at: datetime) -> str:
    return at.astimezone(NY).strftime("%H:%M")


async def _calendar(
    trading: AlpacaHttp, calendar: ExchangeCalendar, today: date, sessions: int
) -> Check:
    local = calendar.sessions(today, today + timedelta(days=sessions * 2 + 14))[:sessions]
    if not local:
        return Check("calendar", False, "the local calendar has no upcoming sessions")
    end = local[-1].date
    params = {"start": today.isoformat(), "end": end.isoformat()}
    rows = await trading.get_json("/v2/calendar", "GET /v2/calendar", params)
    theirs = {str(r["date"]): f"{r['open']}-{r['close']}" for r in rows}
    ours = {s.date.isoformat(): f"{_hhmm(s.open)}-{_hhmm(s.close)}" for s in local}
    diffs = [
        f"{day}: broker {theirs.get(day, 'closed')}, local {ours.get(day, 'closed')}"
        for day in sorted(theirs.keys() | ours.keys())
        if theirs.get(day) != ours.get(day)
    ]
    if diffs:
        return Check("calendar", False, f"{len(diffs)} difference(s); first {diffs[0]}")
    return Check("calendar", True, f"next {len(local)} sessions agree ({today} to {end})")


async def _market_data(data: AlpacaHttp, feed: str) -> Check:
    params = {"symbols": "SPY", "feed": feed}
    body = await data.get_json("/v2/stocks/snapshots", "GET /v2/stocks/snapshots", params)
    return Check("market data", True, f"feed {feed}: {len(body)} snapshot(s) for SPY")


async def _guard(name: str, call: Callable[[], Any]) -> Check:
    from finagent.adapters.alpaca.http import AlpacaApiError, RetryableError

    try:
        result: Check = await call()
    except AlpacaApiError as err:
        return Check(name, False, f"HTTP {err.status}: {err.message}")
    except RetryableError as exc:
        return Check(name, False, f"unreachable ({exc})")
    except (KeyError, TypeError, ValueError) as exc:
        return Check(name, False, f"unexpected response: {exc}")
    return result


async def run_checks(
    trading: httpx.AsyncClient,
    data: httpx.AsyncClient,
    *,
    calendar: ExchangeCalendar,
    now: Callable[[], datetime],
    feed: str = "iex",
    sessions: int = 10,
    max_skew_s: float = 2.0,
) -> list[Check]:
    """The network checks, against clients the caller built (base URL and keys set)."""
    from finagent.adapters.alpaca.http import AlpacaHttp, RetryPolicy, TokenBucket

    policy = RetryPolicy(attempts=2, base_s=0.2, max_wait_s=5.0)
    t = AlpacaHttp(trading, port="doctor", limiter=TokenBucket(200), policy=policy)
    d = AlpacaHttp(data, port="doctor", limiter=TokenBucket(200), policy=policy)
    today = now().astimezone(NY).date()
    return [
        await _guard("account", lambda: _account(t)),
        await _guard("clock", lambda: _clock(t, now, max_skew_s)),
        await _guard("calendar", lambda: _calendar(t, calendar, today, sessions)),
        await _guard("market data", lambda: _market_data(d, feed)),
    ]


def _static_checks(settings: Settings) -> list[Check]:
    from finagent.adapters.alpaca.broker import LiveTradingNotConfirmed, check_live_confirmed

    a = settings.alpaca
    have_keys = a.key_id is not None and a.secret_key is not None
    checks = [
        Check(
            "keys",
            have_keys,
            "set" if have_keys else "set FINAGENT_ALPACA__KEY_ID and FINAGENT_ALPACA__SECRET_KEY",
        )
    ]
    try:
        check_live_confirmed(settings.broker, a.trading_url, a.confirm_live)
        checks.append(Check("mode", True, f"broker {settings.broker} at {a.trading_url}"))
    except LiveTradingNotConfirmed as exc:
        checks.append(Check("mode", False, str(exc)))
    return checks


def doctor(settings: Settings, *, print_line: Callable[[str], None] = print) -> int:
    """Run every check, print one line each; 0 if all passed, else 1."""
    import httpx
    import trio

    from finagent.adapters.alpaca.http import DEFAULT_TIMEOUT, alpaca_headers
    from finagent.adapters.exchange_calendar import XcalsExchangeCalendar

    checks = _static_checks(settings)
    a = settings.alpaca
    if a.key_id is not None and a.secret_key is not None:
        headers = alpaca_headers(a.key_id.get_secret_value(), a.secret_key.get_secret_value())
        calendar = XcalsExchangeCalendar(settings.exchange.calendar)

        async def network() -> Sequence[Check]:
            async with (
                httpx.AsyncClient(base_url=a.trading_url, headers=headers, timeout=DEFAULT_TIMEOUT)
                as trading,
                httpx.AsyncClient(base_url=a.data_url, headers=headers, timeout=DEFAULT_TIMEOUT)
                as data,
            ):  # fmt: skip
                return await run_checks(
                    trading, data, calendar=calendar, now=lambda: datetime.now(UTC),
                    feed=a.data_feed,
                )  # fmt: skip

        checks.extend(trio.run(network))
    for check in checks:
        print_line(check.line())
    return 0 if all(c.ok for c in checks) else 1


ConfigOpt = Annotated[
    Path | None,
    Parameter(name="--config", help="settings file (default: $FINAGENT_CONFIG, ./settings.yaml)"),
]


@doctor_app.default
def doctor_command(*, config: ConfigOpt = None) -> None:
    """Check Alpaca keys, connectivity, clock skew and the calendar; exit 1 if any check fails."""
    raise SystemExit(doctor(load(config).settings))
