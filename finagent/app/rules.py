"""The domain's rule sets from settings: scan rules, plan rules and the risk profile."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finagent.domain.gaps import ScanRules
from finagent.domain.planning import PlanRules
from finagent.domain.risk import RiskProfile

if TYPE_CHECKING:
    from finagent.settings import Settings

__all__ = ["plan_rules", "risk_profile", "scan_rules"]


def scan_rules(settings: Settings) -> ScanRules:
    """What makes a gapper a candidate (``scan:``)."""
    s = settings.scan
    return ScanRules(s.min_gap_pct, s.min_price, s.max_price, s.min_premarket_volume,
                     s.min_relative_volume, s.max_candidates)  # fmt: skip


def plan_rules(settings: Settings) -> PlanRules:
    """How a candidate becomes a trade plan (``plan:``)."""
    p = settings.plan
    return PlanRules(p.range_minutes, p.stop_mode, p.atr_multiple, p.target_r,
                     p.time_stop_minutes, p.flatten_minutes_before_close)  # fmt: skip


def risk_profile(settings: Settings) -> RiskProfile:
    """The limits every plan is checked against (``risk:``, with the scan's price band)."""
    r = settings.risk
    return RiskProfile(
        risk_per_trade_pct=r.risk_per_trade_pct,
        max_open_positions=r.max_open_positions,
        max_notional_per_position=r.max_notional_per_position,
        max_gross_exposure=r.max_gross_exposure,
        max_daily_loss=r.max_daily_loss,
        max_orders_per_minute=r.max_orders_per_minute,
        allowed_sides=tuple(r.allowed_sides),
        pdt_equity_floor=r.pdt_equity_floor,
        enforce_pdt=r.enforce_pdt,
        starting_equity=r.starting_equity,
        min_price=settings.scan.min_price,
        max_price=settings.scan.max_price,
    )
