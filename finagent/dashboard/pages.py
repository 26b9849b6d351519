"""The dashboard's pages: each draws the read model; each button goes through the control path.

Every read is over a read-only connection (:mod:`finagent.app.status`, :mod:`finagent.app.views`)
so the daemon's persistence actor stays the single writer. The only writes are the CLI's own:
:func:`finagent.app.control.request_state` (halt, halt + flatten, resume) and
:func:`finagent.app.database.requeue` (retry a dead job), each behind a confirmation.
The page body is a fragment re-run every ``dashboard.refresh_s``: the sidebar's page and the
widgets' state (a picked day) live in the session and survive the refresh.
"""

from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import altair as alt
import pendulum
import streamlit as st

from finagent.app import control, database, views
from finagent.app.status import day_book, read_status
from finagent.dashboard.server import launched
from finagent.domain.errors import FinagentError
from finagent.settings import ConfigError, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from finagent.app.status import DayBook, Status
    from finagent.settings import Settings

__all__ = ["PAGES", "main"]

_CONFIRM = "confirm"  # session key: the control waiting for its confirmation
_RESULT = "result"  # session key: (acknowledged, line) of the last control


def main() -> None:
    """Draw the dashboard: settings, the password gate, the sidebar, then the page."""
    st.set_page_config(page_title="finagent", page_icon=":chart_with_upwards_trend:", layout="wide")
    try:
        launch = launched()  # the CLI's file and flags, else the environment's settings
        settings = (
            load_settings(launch.config, launch.overrides) if launch else load_settings(None)
        ).settings
    except ConfigError as exc:
        st.error(f"finagent: the settings cannot be loaded: {exc}")
        return
    if not _authorized(settings):
        return
    st.sidebar.title("finagent")
    page = st.sidebar.radio("Page", list(PAGES), key="page")
    st.sidebar.caption(f"database `{settings.db_path}`")
    st.sidebar.caption(f"refreshes every {settings.dashboard.refresh_s:g} s")

    @st.fragment(run_every=timedelta(seconds=settings.dashboard.refresh_s))
    def body() -> None:
        started = time.perf_counter()
        try:
            PAGES[page](settings)
        except FinagentError as exc:  # a missing or foreign file, a corrupt one: one line
            st.error(f"{exc}")
        st.caption(f"rendered in {time.perf_counter() - started:.3f} s")

    body()


def _authorized(settings: Settings) -> bool:
    secret = settings.dashboard.password
    if secret is None or st.session_state.get("authorized"):
        return True
    st.title("finagent")
    entered = st.text_input("Password", type="password", key="password")
    if not entered:
        st.info("This dashboard is password protected.")
        return False
    if not hmac.compare_digest(entered.encode(), secret.get_secret_value().encode()):
        st.error("Wrong password.")
        return False
    st.session_state["authorized"] = True
    st.rerun()
    return True  # pragma: no cover - st.rerun() does not return


# --- formatting -------------------------------------------------------------------------------


def _at(when: datetime | None, zone: str, fmt: str = "%a %Y-%m-%d %H:%M %Z") -> str:
    return "-" if when is None else pendulum.instance(when).in_tz(zone).strftime(fmt)


def money(value: Decimal | None) -> str:
    """Money as shown: two decimals with thousands separators, ``-`` when unknown."""
    return "-" if value is None else f"{value:,.2f}"


# --- controls ---------------------------------------------------------------------------------


def _ask(name: str) -> None:
    st.session_state[_CONFIRM] = name
    st.session_state[_RESULT] = None


def _cancel() -> None:
    st.session_state[_CONFIRM] = None


def _set_state(settings: Settings, state: str, flatten: bool) -> None:
    st.session_state[_CONFIRM] = None
    try:
        result = control.request_state(settings.db_path, state, flatten=flatten)
    except FinagentError as exc:
        st.session_state[_RESULT] = (False, str(exc))
        return
    st.session_state[_RESULT] = control.describe(
        result, state, flatten=flatten, display_tz=settings.exchange.display_timezone,
        wait_s=control.ACK_WAIT_S,
    )  # fmt: skip


def _retry(settings: Settings, job_id: int, daemon_pid: int | None, now: float) -> None:
    """``finagent queue retry``, due at ``now`` in the daemon's clock (a sim timeline's too)."""
    st.session_state[_CONFIRM] = None
    try:
        moved = database.requeue(
            settings.db_path, job_id, busy_timeout_ms=settings.sqlite.busy_timeout_ms, now=now
        )
    except FinagentError as exc:
        st.session_state[_RESULT] = (False, str(exc))
        return
    if not moved:
        st.session_state[_RESULT] = (False, f"job {job_id} is no longer dead; nothing changed")
    elif daemon_pid is None:
        line = f"job {job_id} is pending again; no daemon is running (the next start runs it)"
        st.session_state[_RESULT] = (False, line)
    else:
        st.session_state[_RESULT] = (True, f"job {job_id} is pending again; daemon pid"
                                           f" {daemon_pid} runs it when it is due")  # fmt: skip


def _bound(fn: Callable[[Settings, int, int | None, float], None], settings: Settings,
           job_id: int, pid: int | None, now: float) -> Callable[[], None]:  # fmt: skip
    return lambda: fn(settings, job_id, pid, now)


def _confirmed(name: str, question: str, action: Callable[[], None]) -> None:
    """The confirmation step of control ``name``, drawn only while it waits for one."""
    if st.session_state.get(_CONFIRM) != name:
        return
    st.warning(question)
    yes, no = st.columns(2)
    yes.button("Confirm", key=f"{name}-yes", type="primary", on_click=action)
    no.button("Cancel", key=f"{name}-no", on_click=_cancel)


def _show_result() -> None:
    found = st.session_state.get(_RESULT)
    if found:
        ok, line = found
        (st.success if ok else st.warning)(line)


def _controls(settings: Settings) -> None:
    st.subheader("Kill switch")
    a, b, c = st.columns(3)
    a.button("Halt", key="halt", on_click=_ask, args=("halt",))
    b.button("Halt + flatten", key="flatten", on_click=_ask, args=("flatten",))
    c.button("Resume", key="resume", on_click=_ask, args=("resume",))
    _confirmed("halt", "Halt trading? No new entries; open positions keep their brackets.",
               lambda: _set_state(settings, "halted", False))  # fmt: skip
    _confirmed("flatten", "Halt trading and close every position now?",
               lambda: _set_state(settings, "halted", True))  # fmt: skip
    _confirmed("resume", "Resume trading? New entries are allowed again.",
               lambda: _set_state(settings, "active", False))  # fmt: skip
    _show_result()


# --- pages ------------------------------------------------------------------------------------


def _daemon_line(s: Status, display_tz: str) -> str:
    d = s.daemon
    if not d.running:
        return "not running"
    return f"running, pid {d.pid}, since {_at(d.since, display_tz, '%Y-%m-%d %H:%M %Z')}"


def today(settings: Settings) -> None:
    """Daemon and trading state, session, next firings, book, P&L, candidates and decisions."""
    ex, shown = settings.exchange.timezone, settings.exchange.display_timezone
    s = read_status(settings)
    st.header("Today")
    ss = s.session
    cols = st.columns(4)
    cols[0].metric("Daemon", "running" if s.daemon.running else "not running")
    cols[1].metric("Trading", s.trading_state)
    cols[2].metric("Session", "open" if ss.open else "closed")
    today_ = pendulum.instance(s.now).in_tz(ex).date()
    day = views.shown_day(settings.db_path, today_)
    book = day_book(settings, day)
    cols[3].metric(f"Realized P&L {day}", money(book.realized_pnl if book else None))
    st.caption(f"daemon {_daemon_line(s, shown)}; now {_at(s.now, ex)}")
    if s.trading_reason:
        st.caption(f"trading: {s.trading_reason}")
    hours = (
        f"today {_at(ss.today_open, ex, '%H:%M')}-{_at(ss.today_close, ex, '%H:%M %Z')}"
        + (" (early close)" if ss.early_close else "")
        if ss.today_open
        else "no session today"
    )
    st.caption(f"session: {hours}; next open {_at(ss.next_open, ex)}")
    _controls(settings)
    st.subheader("Next firings")
    st.dataframe(
        [{"entry": f.entry, "job": f.job_type, "exchange time": _at(f.at, ex),
          "display time": _at(f.at, shown)} for f in s.next_firings],
        hide_index=True,
    )  # fmt: skip
    if day != today_:
        st.info(f"No scan yet today ({today_}): showing {day}, the latest session with a report.")
    _book(s, book, ex)
    _pipeline(views.pipeline(settings.db_path, day))


def _book(s: Status, book: DayBook | None, zone: str) -> None:
    st.subheader("Positions")
    if s.broker_view == "remote":
        st.info("The broker is remote (Alpaca): its book is not read here; see its site.")
        return
    if s.positions:
        st.dataframe(
            [{"symbol": p.symbol, "quantity": p.quantity, "avg price": str(p.avg_price),
              "last price": money(p.last_price), "unrealized P&L": money(p.unrealized_pnl)}
             for p in s.positions],
            hide_index=True,
        )  # fmt: skip
        st.caption("The paper broker keeps no quotes: unrealized P&L is shown when a price is.")
    else:
        st.write("No open positions.")
    st.subheader("Orders")
    if not book or not book.orders:
        st.write("No orders.")
        return
    st.dataframe(
        [{"symbol": o.symbol, "side": o.side, "qty": o.quantity, "status": o.status,
          "filled": o.filled_quantity, "fill price": money(o.filled_price),
          "exit": o.exit_kind or "", "exit price": money(o.exit_price),
          "submitted": o.submitted_at.strftime("%H:%M:%S UTC"), "id": o.client_order_id}
         for o in book.orders],
        hide_index=True,
    )  # fmt: skip
    curve = views.intraday_pnl(book.fills)
    st.subheader("Realized P&L through the day")
    if curve:
        # Exchange wall time without a zone: the browser would shift an aware one to its own.
        points = [{"time": pendulum.instance(t).in_tz(zone).naive().isoformat(),
                   "realized P&L": float(v)} for t, v in curve]  # fmt: skip
        chart = alt.Chart({"values": points}).mark_line(interpolate="step-after", point=True)
        st.altair_chart(
            chart.encode(x=alt.X("time:T", title=f"time ({zone})"), y="realized P&L:Q").properties(
                height=220
            ),
            width="stretch",
        )
    else:
        st.write("No closed trade yet.")


def _pipeline(p: views.Pipeline) -> None:
    st.subheader(f"Candidates {p.day}")
    if not p.candidates:
        st.write("No scored candidates.")
    else:
        st.dataframe(
            [{"symbol": c.symbol, "score": c.score, **c.components} for c in p.candidates],
            hide_index=True,
        )
        parts = [{"symbol": c.symbol, "component": k, "points": v}
                 for c in p.candidates for k, v in c.components.items()]  # fmt: skip
        bars = (
            alt.Chart({"values": parts})
            .mark_bar()
            .encode(
                x=alt.X("symbol:N", sort=[c.symbol for c in p.candidates]),
                y=alt.Y("points:Q", stack="zero"),
                color=alt.Color("component:N", legend=alt.Legend(orient="bottom")),
                tooltip=["symbol:N", "component:N", "points:Q"],
            )
        )
        st.altair_chart(bars.properties(height=260), width="stretch")
    st.subheader("Plans: approved and rejected")
    if not p.decisions:
        st.write("No plans.")
        return
    st.dataframe(
        [{"symbol": d.symbol, "side": d.side, "decision": "approved" if d.approved else "rejected",
          "shares": d.quantity, "rule": ", ".join(d.rules), "detail": d.detail}
         for d in p.decisions],
        hide_index=True,
    )  # fmt: skip
    approved = sum(1 for d in p.decisions if d.approved)
    st.caption(f"{approved} approved, {len(p.decisions) - approved} rejected")


def history(settings: Settings) -> None:
    """Daily reports, the equity curve with drawdown, and a picked day's orders."""
    st.header("History")
    rows = views.history(settings.db_path, Decimal(str(settings.risk.starting_equity)))
    if not rows:
        st.info("No daily report yet: the reporter writes one after each session's close.")
        return
    cols = st.columns(4)
    cols[0].metric("Sessions", len(rows))
    cols[1].metric("Total P&L", money(sum((r.pnl for r in rows), Decimal(0))))
    cols[2].metric("Equity", money(rows[-1].equity))
    cols[3].metric("Max drawdown", money(min(r.drawdown for r in rows)))
    curve = {"values": [{"date": r.date, "equity": float(r.equity),
                         "drawdown": float(r.drawdown)} for r in rows]}  # fmt: skip
    left, right = st.columns(2)
    x = alt.X("date:O", title="session")
    left.altair_chart(
        alt.Chart(curve, title="Equity")
        .mark_line(point=True)
        .encode(x=x, y=alt.Y("equity:Q", scale=alt.Scale(zero=False)))
        .properties(height=240),
        width="stretch",
    )
    right.altair_chart(
        alt.Chart(curve, title="Drawdown from the peak")
        .mark_area(color="#d62728", opacity=0.6)
        .encode(x=x, y="drawdown:Q")
        .properties(height=240),
        width="stretch",
    )
    st.dataframe(
        [{"date": r.date, "P&L": money(r.pnl), "trades": r.trades, "wins": r.wins,
          "losses": r.losses, "hit rate": r.hit_rate or "-", "max DD": money(r.max_drawdown),
          "candidates": r.candidates, "plans": r.plans, "approved": r.approved,
          "orders": r.orders, "equity": money(r.equity), "drawdown": money(r.drawdown)}
         for r in reversed(rows)],
        hide_index=True,
    )  # fmt: skip
    days = [r.date for r in reversed(rows)]
    day = st.selectbox("Orders of the session", days, key="history_day")
    orders = views.report_orders(settings.db_path, day or days[0])
    if orders:
        st.dataframe(orders, hide_index=True)
    else:
        st.write("No orders that session.")


def queue(settings: Settings) -> None:
    """Counts by type and status, oldest pending age, dead jobs with their error and a retry."""
    st.header("Queue")
    s = read_status(settings)
    if s.queue is None:
        st.info("The queue is on Redis: see `finagent queue stats` and Redis' own tools.")
        return
    q = views.queue_view(settings.db_path, s.now.timestamp())
    cols = st.columns(4)
    cols[0].metric("Pending", s.queue.pending)
    cols[1].metric("Running", s.queue.running)
    cols[2].metric("Dead", s.queue.dead)
    age = q.oldest_pending_age_s
    cols[3].metric("Oldest pending", "-" if age is None else f"{age:.0f} s")
    st.dataframe([{"type": t, **c} for t, c in q.counts.items()], hide_index=True)
    st.subheader("Dead letters")
    _show_result()
    if not q.dead:
        st.write("No dead jobs.")
        return
    pid, now = s.daemon.pid, s.now.timestamp()
    for job in q.dead:
        with st.container(border=True):
            st.markdown(f"**{job.id}** `{job.type}` `{job.key}`: {job.attempts} attempt(s)")
            st.code(job.last_error or "(no error recorded)", language=None)
            st.button("Retry", key=f"retry-{job.id}", on_click=_ask, args=(f"retry-{job.id}",))
            _confirmed(f"retry-{job.id}", f"Move job {job.id} back to pending?",
                       _bound(_retry, settings, job.id, pid, now))  # fmt: skip


def schedule(settings: Settings) -> None:
    """The next 10 sessions: each entry's fire time in exchange and display time."""
    ex, shown = settings.exchange.timezone, settings.exchange.display_timezone
    st.header("Schedule")
    s = read_status(settings)
    st.caption(f"{settings.exchange.calendar}: exchange time {ex}, display time {shown}")
    rows: list[dict[str, str]] = []
    days = views.next_sessions(settings, s.now)
    closed = [f"{d.date} {d.date:%a} ({d.closed.name})" for d in days if d.closed]
    early = [f"{d.date} {d.date:%a}" for d in days if d.session and d.session.early_close]
    st.caption(f"closed: {', '.join(closed) or 'none'}; early closes: {', '.join(early) or 'none'}")
    for d in days:
        if d.closed is not None:
            blank = dict.fromkeys(("entry", "job", "exchange time", "display time"), "")
            rows.append({"date": f"{d.date} {d.date:%a}", "session": f"CLOSED ({d.closed.name})",
                         **blank})  # fmt: skip
            continue
        assert d.session is not None  # a day is a session or closed
        hours = f"{_at(d.session.open, ex, '%H:%M')}-{_at(d.session.close, ex, '%H:%M')}"
        hours += " EARLY CLOSE" if d.session.early_close else ""
        for entry, job_type, at in d.firings:
            rows.append({
                "date": f"{d.date} {d.date:%a}", "session": hours, "entry": entry,
                "job": job_type, "exchange time": _at(at, ex, "%H:%M %Z"),
                "display time": _at(at, shown, "%a %H:%M %Z"),
            })  # fmt: skip
    st.dataframe(rows, hide_index=True, height=35 * (len(rows) + 1) + 3)  # no inner scroll bar


def health(settings: Settings) -> None:
    """Actors up and their restarts, and the event-loop lag, from the daemon's ``/metrics``."""
    st.header("Health")
    s = read_status(settings)
    st.caption(f"daemon {_daemon_line(s, settings.exchange.display_timezone)}")
    url = views.metrics_url(settings)
    found = views.read_health(url)
    if isinstance(found, str):
        st.warning(found)
        return
    cols = st.columns(3)
    up = sum(1 for ok, _ in found.actors.values() if ok)
    cols[0].metric("Actors up", f"{up}/{len(found.actors)}")
    cols[1].metric("Restarts", sum(n for _, n in found.actors.values()))
    lag = found.loop_lag_s
    cols[2].metric("Loop lag", "-" if lag is None else f"{lag * 1000:.1f} ms")
    st.dataframe(
        [{"actor": name, "up": ok, "restarts": n} for name, (ok, n) in found.actors.items()],
        hide_index=True,
        height=35 * (len(found.actors) + 1) + 3,  # every actor, no inner scroll bar
    )
    st.caption(f"from {url} at {datetime.now(UTC):%H:%M:%S UTC}")


#: the sidebar's pages, in order
PAGES: dict[str, Callable[[Settings], None]] = {
    "Today": today,
    "History": history,
    "Queue": queue,
    "Schedule": schedule,
    "Health": health,
}
