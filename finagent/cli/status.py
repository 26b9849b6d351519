"""``finagent status``: one screen of the daemon's state, read from its files (read-only).

Exit 0 whether or not a daemon runs; 2 when the database is missing or unusable.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path  # noqa: TC003 - cyclopts reads the annotations at runtime
from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

from finagent.cli.common import load, nested, one_line_errors

if TYPE_CHECKING:
    from datetime import datetime

    from finagent.app.status import Status

__all__ = ["format_status", "status"]


def status(
    *,
    db: Annotated[Path | None, Parameter(help="SQLite database path (db_path)")] = None,
    json: Annotated[bool, Parameter(negative=(), help="print the documented JSON")] = False,
    config: Annotated[Path | None, Parameter(name="--config", help="settings file")] = None,
) -> None:
    """Show whether a daemon runs, the trading state, the session, next firings, book and queue."""
    from finagent.app.status import read_status, status_json
    from finagent.domain.errors import StorageError

    settings = load(config, nested({"db_path": str(db) if db else None})).settings
    with one_line_errors(StorageError):
        found = read_status(settings)
    if json:
        print(jsonlib.dumps(status_json(found), indent=2))
        return
    print(format_status(found, settings.exchange.timezone, settings.exchange.display_timezone))


def format_status(s: Status, exchange_tz: str, display_tz: str) -> str:
    """The status as a screen of text; times in the exchange's zone, "since" in the display's."""
    import pendulum

    def ex(when: datetime | None, fmt: str = "%a %Y-%m-%d %H:%M %Z") -> str:
        return "-" if when is None else pendulum.instance(when).in_tz(exchange_tz).strftime(fmt)

    d = s.daemon
    if d.running:
        since = "-" if d.since is None else pendulum.instance(d.since).in_tz(display_tz)
        started = since if isinstance(since, str) else since.strftime("%Y-%m-%d %H:%M:%S %Z")
        lines = [
            f"daemon    running, pid {d.pid}, since {started}, finagent {d.version or '-'}",
            f"          feed {d.feed or '-'}, broker {d.broker or '-'},"
            f" queue {d.queue_backend or '-'}",
        ]
    else:
        lines = ["daemon    not running"]
    lines.append(f"database  {s.path}   now {ex(s.now, '%a %Y-%m-%d %H:%M:%S %Z')}")
    state = s.trading_state + (f" ({s.trading_reason})" if s.trading_reason else "")
    if s.requested_state != s.trading_state:
        state += f"; asked {s.requested_state}"
    lines.append(f"trading   {state}")
    ss = s.session
    if ss.today_open is not None:
        hours = f"{ex(ss.today_open, '%H:%M')}-{ex(ss.today_close, '%H:%M %Z')}"
        early = " EARLY CLOSE" if ss.early_close else ""
        lines.append(f"session   {'open' if ss.open else 'closed'}; today {hours}{early}")
    else:
        lines.append("session   closed; no session today")
    lines.append(f"          next open {ex(ss.next_open)}, next close {ex(ss.next_close)}")
    lines.append("next      " + ("(nothing scheduled)" if not s.next_firings else ""))
    lines[-1] = lines[-1].rstrip()
    for f in s.next_firings:
        lines.append(f"  {f.entry:<16} {f.job_type:<10} {ex(f.at)}")
    if s.broker_view == "remote":
        lines.append("book      the broker is remote (Alpaca): see `finagent doctor` or its site")
    else:
        lines.append(f"positions {len(s.positions)}")
        for p in s.positions:
            lines.append(f"  {p.symbol:<6} {p.quantity:>7} @ {p.avg_price}  (no last price)")
        lines.append(f"orders    {len(s.orders)} today, realized P&L {s.realized_pnl}")
        for o in s.orders:
            filled = f"filled {o.filled_quantity} @ {o.filled_price}" if o.filled_price else ""
            exit_ = f", exit {o.exit_kind} @ {o.exit_price}" if o.exit_price else ""
            lines.append(
                f"  {o.client_order_id:<44} {o.side:<5} {o.quantity:>6} {o.symbol:<6}"
                f" {o.status:<9} {filled}{exit_}".rstrip()
            )
    q = s.queue
    if q is None:
        lines.append("queue     on Redis (not read by status)")
    else:
        age = "-" if q.oldest_pending_age_s is None else f"{q.oldest_pending_age_s:.0f} s"
        lines.append(
            f"queue     pending {q.pending}, running {q.running}, dead {q.dead};"
            f" oldest pending {age}"
        )
    return "\n".join(lines)
