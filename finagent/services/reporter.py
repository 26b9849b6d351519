"""The reporter: the session's daily report, written to the database and logged.

Owns nothing. Receives ``report`` jobs (the schedule's, after the close). Reads the session's
job trail (candidates, plans, decisions) and the broker's orders, and stores one report per
session (a re-run replaces it). Emits nothing. Restart: permanent.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, final

from finagent.domain.job_types import ReportJob, payload_as
from finagent.domain.notify import Notice
from finagent.domain.orders import (
    BrokerOrder,
    Fill,
    FillKind,
    OrderSide,
    client_id_prefix,
    client_order_id,
    duplicate_orders,
)
from finagent.domain.pnl import round_trips
from finagent.domain.report import summarize

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from finagent.domain.job_types import JobPayload
    from finagent.domain.jobs import Job, NewJob
    from finagent.domain.orders import Position
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.trading import JobTrail, TradingRecords
    from finagent.services.notifier import Notices

__all__ = ["Reporter", "build_report", "fills_of"]

log = logging.getLogger(__name__)


def fills_of(order: BrokerOrder) -> list[Fill]:
    """The entry and exit fills a bracket had, each with the commission the broker charged."""
    o = order.order
    out: list[Fill] = []
    if order.filled_price is not None and order.filled_at is not None:
        side = OrderSide.entering(o.side)
        out.append(Fill(o.client_order_id, o.symbol, side, o.quantity, order.filled_price,
                        order.filled_at, FillKind.ENTRY, order.entry_commission))  # fmt: skip
        if order.exit_price is not None and order.closed_at is not None:
            kind = order.exit_kind or FillKind.CLOSE
            out.append(Fill(o.client_order_id, o.symbol, OrderSide.exiting(o.side), o.quantity,
                            order.exit_price, order.closed_at, kind,
                            order.exit_commission))  # fmt: skip
    return out


def _order_json(order: BrokerOrder) -> dict[str, Any]:
    o = order.order
    return {
        "client_order_id": o.client_order_id,
        "symbol": o.symbol,
        "side": o.side.value,
        "qty": o.quantity,
        "entry": str(o.entry),
        "stop": str(o.stop_loss),
        "target": str(o.take_profit),
        "status": order.status.value,
        "filled_price": None if order.filled_price is None else str(order.filled_price),
        "exit_price": None if order.exit_price is None else str(order.exit_price),
        "exit_kind": None if order.exit_kind is None else order.exit_kind.value,
    }


def _payload(trail: Sequence[JobTrail], job_type: str) -> dict[str, Any]:
    found = [t for t in trail if t.type == job_type and t.status == "done"]
    return dict(found[-1].payload) if found else {}


def _report_notice(report: dict[str, Any]) -> Notice:
    """The day's numbers in one message."""
    r = report
    return Notice.daily_report(r["date"], [
        f"P&L {r['pnl']} over {r['trades']} trade(s): {r['wins']} win(s), {r['losses']} loss(es)",
        f"{r['candidates']} candidate(s), {r['plans']} plan(s), {r['approved']} approved, "
        f"{len(r['orders'])} order(s)",
        f"max drawdown {r['max_drawdown']}, open positions {len(r['open_positions'])}, "
        f"dead jobs {len(r['dead_jobs'])}",
    ])  # fmt: skip


def build_report(
    session_date: str,
    trail: Sequence[JobTrail],
    orders: Sequence[BrokerOrder],
    positions: Sequence[Position],
    *,
    own_key: str | None = None,
) -> dict[str, Any]:
    """The daily report: candidates, plans, decisions, orders, fills and P&L of a session.

    ``own_key`` is the report job building it: running now, it is counted as done.
    """
    candidates = [c["symbol"] for c in _payload(trail, "score").get("candidates", [])]
    scores = _payload(trail, "plan").get("scores", [])
    risk = _payload(trail, "risk")
    decisions = [t.payload for t in trail if t.type == "execute"]
    rejected: Counter[str] = Counter()
    for d in decisions:
        if not d.get("approved"):
            rejected.update(r["code"] for r in d.get("reasons", []))
    fills = sorted(
        (f for o in orders for f in fills_of(o)), key=lambda f: (f.at, f.client_order_id)
    )
    summary = summarize(date.fromisoformat(session_date), round_trips(fills))
    statuses = Counter("done" if t.key == own_key else t.status for t in trail)
    return {
        "date": session_date,
        "candidates": len(candidates),
        "candidate_symbols": candidates,
        "ranked": scores,
        "plans": len(risk.get("plans", [])),
        "unplanned": risk.get("unplanned", []),
        "approved": sum(1 for d in decisions if d.get("approved")),
        "rejected": dict(sorted(rejected.items())),
        "orders": [_order_json(o) for o in orders],
        "fills": len(fills),
        "trades": summary.trades,
        "wins": summary.wins,
        "losses": summary.losses,
        "hit_rate": None if summary.hit_rate is None else str(summary.hit_rate),
        "pnl": str(summary.net_pnl),
        "max_drawdown": str(summary.max_drawdown),
        "open_positions": [
            {"symbol": p.symbol, "qty": p.quantity, "avg_price": str(p.avg_price)}
            for p in positions
        ],
        "jobs": dict(sorted(statuses.items())),
        "dead_jobs": [t.key for t in trail if t.status == "dead"],
    }


@final
class Reporter:
    """JobHandler for ``report``: build the report, store it, log it."""

    def __init__(
        self,
        broker: Broker,
        records: TradingRecords,
        *,
        trail_gap: Callable[[str], str | None] | None = None,
        notices: Notices | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._notices = notices
        self._broker = broker
        self._records = records
        self._metrics = metrics
        self._trail_gap = trail_gap  # day -> why its job trail is incomplete (Redis lost it)

    async def start(self) -> None:
        """Nothing to recover."""

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Report the job's session."""
        day = payload_as(payload, ReportJob).session.date.isoformat()
        report = await self.report(day, own_key=job.key)
        if "incomplete" in report:  # never an empty day passed off as a quiet one
            log.error("daily report %s is incomplete: %s", day, report["incomplete"])
            log.debug("daily report %s: %s", day, report)
            return []
        top = ",".join(report["candidate_symbols"][:3]) or "-"
        log.info(
            "daily report %s: %d candidate(s) (top %s), %d plan(s), %d approved,"
            " %d order(s), %d fill(s), %d duplicate(s), P&L %s",
            day, report["candidates"], top, report["plans"], report["approved"],
            len(report["orders"]), report["fills"], report["duplicate_orders"], report["pnl"],
        )  # fmt: skip
        log.debug("daily report %s: %s", day, report)  # the whole report: details at DEBUG
        return [] if self._notices is None else self._notices.jobs(_report_notice(report))

    async def report(self, day: str, *, own_key: str | None = None) -> dict[str, Any]:
        """Build and store the report of session ``day`` (ISO date).

        Duplicate orders are counted from the broker's own list of the day's orders, not
        from the orders finagent looked up by its ids: a resend under another id shows there.
        """
        trail = await self._records.session_jobs(day)
        orders: list[BrokerOrder] = []
        for t in trail:
            if t.type == "execute" and t.payload.get("approved"):
                found = await self._broker.order_by_client_id(client_order_id(t.key))
                if found is not None:
                    orders.append(found)
        report = build_report(day, trail, orders, await self._broker.positions(), own_key=own_key)
        since = datetime.combine(date.fromisoformat(day), time(0), UTC)  # before NY's midnight
        listed = await self._broker.orders_since(since)
        report["duplicate_orders"] = duplicate_orders(listed, client_id_prefix(f"execute:{day}:"))
        if self._metrics is not None:
            self._metrics.duplicate_orders.set(report["duplicate_orders"])
        if self._trail_gap is not None and (gap := self._trail_gap(day)) is not None:
            report["incomplete"] = gap
        await self._records.put_report(day, report)
        return report
