"""The checks behind ``finagent doctor``: can this configuration trade with Alpaca?

Only what the configured adapters use is checked. With an Alpaca broker: the keys are set,
live mode is confirmed, the account answers (keys accepted, not blocked), the local clock
agrees with ``/v2/clock``, and ``/v2/calendar`` agrees with the local exchange calendar for
the next sessions. With ``feed: alpaca``: the keys are set, and a sample of snapshots and a
minute-bar request are read through :class:`AlpacaMarketData`, the code the scan uses, so a
response the scan cannot read fails here, naming the field and value. With ``broker: paper``
and ``feed: sim`` there is nothing to check at Alpaca. Prints ``ok``/``FAIL`` per check (or,
``--json``, one JSON object) and returns 1 if any failed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    import httpx

    from finagent.adapters.alpaca.http import AlpacaHttp
    from finagent.adapters.alpaca.market import AlpacaMarketData
    from finagent.ports.calendar import ExchangeCalendar
    from finagent.settings import Settings

__all__ = ["NOTHING_TO_CHECK", "SAMPLE", "Check", "doctor", "run_checks"]

NY = ZoneInfo("America/New_York")
#: Symbols whose snapshots the market-data check reads (liquid, always quoted).
SAMPLE = ("SPY", "AAPL", "QQQ")
#: The one line with ``broker: paper`` and ``feed: sim``: no Alpaca API is configured.
NOTHING_TO_CHECK = "nothing to check at Alpaca: broker paper and feed sim use no Alpaca API"


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


async def _market_data(market: AlpacaMarketData, now: datetime, feed: str) -> Check:
    snaps = await market.snapshots(SAMPLE, now)
    if not snaps:
        return Check("market data", False, f"feed {feed}: no snapshot for {', '.join(SAMPLE)}")
    bars = await market.minute_bars(SAMPLE[0], now - timedelta(days=4), now)
    read = ", ".join(f"{s.symbol} {s.last}" for s in snaps)
    detail = f"feed {feed}: read {len(snaps)} snapshot(s) ({read}), {len(bars)} minute bar(s)"
    return Check("market data", True, f"{detail} for {SAMPLE[0]}")


async def _guard(name: str, call: Callable[[], Awaitable[Check]]) -> Check:
    from finagent.adapters.alpaca.http import AlpacaApiError, RetryableError
    from finagent.domain.errors import MarketDataError

    try:
        result = await call()
    except AlpacaApiError as err:
        return Check(name, False, f"HTTP {err.status}: {err.message}")
    except MarketDataError as exc:  # already says what failed: the field and value, or why
        return Check(name, False, str(exc))
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
    broker: bool = True,
    market: bool = True,
) -> list[Check]:
    """The network checks, against clients the caller built (base URL and keys set).

    ``broker``: check the account, clock and calendar; ``market``: read market data.
    """
    from finagent.adapters.alpaca.http import AlpacaHttp, RetryPolicy, TokenBucket
    from finagent.adapters.alpaca.market import AlpacaMarketData

    policy = RetryPolicy(attempts=2, base_s=0.2, max_wait_s=5.0)
    t = AlpacaHttp(trading, port="doctor", limiter=TokenBucket(200), policy=policy)
    today = now().astimezone(NY).date()
    checks = []
    if broker:
        checks += [
            await _guard("account", lambda: _account(t)),
            await _guard("clock", lambda: _clock(t, now, max_skew_s)),
            await _guard("calendar", lambda: _calendar(t, calendar, today, sessions)),
        ]
    if market:
        d = AlpacaHttp(data, port="doctor", limiter=TokenBucket(200), policy=policy)
        feed_api = AlpacaMarketData(d, t, feed=feed)
        checks.append(await _guard("market data", lambda: _market_data(feed_api, now(), feed)))
    return checks


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
    if settings.broker == "paper":
        return checks  # the feed alone: no trading mode to confirm
    try:
        check_live_confirmed(settings.broker, a.trading_url, a.confirm_live)
        checks.append(Check("mode", True, f"broker {settings.broker} at {a.trading_url}"))
    except LiveTradingNotConfirmed as exc:
        checks.append(Check("mode", False, str(exc)))
    return checks


def doctor(
    settings: Settings, *, print_line: Callable[[str], None] = print, as_json: bool = False
) -> int:
    """Run the checks the settings need, print one line each (or one JSON object).

    Returns:
        0 if every check passed (or there was nothing to check), else 1.
    """
    import httpx
    import trio

    from finagent.adapters.alpaca.http import DEFAULT_TIMEOUT, alpaca_headers
    from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
    from finagent.app.alpaca import uses_alpaca

    if not uses_alpaca(settings):
        return _report([], print_line, as_json, NOTHING_TO_CHECK)
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
                    feed=a.data_feed, broker=settings.broker != "paper",
                    market=settings.feed == "alpaca",
                )  # fmt: skip

        checks.extend(trio.run(network))
    return _report(checks, print_line, as_json)


def _report(
    checks: Sequence[Check], print_line: Callable[[str], None], as_json: bool, note: str = ""
) -> int:
    ok = all(c.ok for c in checks)
    if as_json:
        body: dict[str, Any] = {"ok": ok, "checks": [asdict(c) for c in checks]}
        print_line(json.dumps({**body, "note": note} if note else body))
    else:
        for line in [note] if note else [c.line() for c in checks]:
            print_line(line)
    return 0 if ok else 1
