"""Gap-and-go scan: which pre-market snapshots are gap candidates.

``ScanRules`` mirrors ``ScanSettings`` field by field so the composition root can copy values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from finagent.domain.market import Direction, Headline, Snapshot
from finagent.domain.money import dec

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from decimal import Decimal

__all__ = [
    "GapCandidate",
    "ScanRules",
    "attach_catalysts",
    "candidate_from",
    "passing",
    "scan",
]


@dataclass(frozen=True, slots=True)
class ScanRules:
    """Thresholds a snapshot must meet (defaults: the usual gap-and-go filters)."""

    min_gap_pct: float = 4.0
    min_price: float = 2.0
    max_price: float = 200.0
    min_premarket_volume: int = 100_000
    min_relative_volume: float = 2.0
    max_candidates: int = 10


@dataclass(frozen=True, slots=True)
class GapCandidate:
    """A symbol that gapped enough, on enough volume, in the allowed price band."""

    snapshot: Snapshot
    gap_pct: Decimal
    direction: Direction
    relative_volume: Decimal
    catalysts: tuple[Headline, ...] = ()

    @property
    def symbol(self) -> str:
        """The ticker."""
        return self.snapshot.symbol

    @property
    def price(self) -> Decimal:
        """The last pre-market price."""
        return self.snapshot.last

    @property
    def premarket_volume(self) -> int:
        """Shares traded pre-market so far."""
        return self.snapshot.premarket_volume

    @property
    def atr(self) -> Decimal:
        """The 14-day average true range."""
        return self.snapshot.atr


def candidate_from(snapshot: Snapshot, rules: ScanRules) -> GapCandidate | None:
    """The snapshot as a candidate if it passes every rule, else None."""
    return _check(snapshot, _Limits.of(rules))


def scan(snapshots: Iterable[Snapshot], rules: ScanRules) -> list[GapCandidate]:
    """Every snapshot that passes ``rules``, biggest absolute gap first (ties by symbol).

    ``max_candidates`` is not applied here: it cuts the list after scoring
    (see ``scoring.rank``), so a strong catalyst can beat a bigger gap.
    """
    limits = _Limits.of(rules)
    found = [c for s in snapshots if (c := _check(s, limits)) is not None]
    found.sort(key=lambda c: (-abs(c.gap_pct), c.symbol))
    return found


def passing(snapshots: Iterable[Snapshot], rules: ScanRules) -> list[Snapshot]:
    """The snapshots that pass ``rules``, in their order (what a server-side screen returns)."""
    limits = _Limits.of(rules)
    return [s for s in snapshots if _check(s, limits) is not None]


@dataclass(frozen=True, slots=True)
class _Limits:
    """ScanRules converted to Decimal once per scan, not once per snapshot."""

    min_gap: Decimal
    min_price: Decimal
    max_price: Decimal
    min_volume: int
    min_rvol: Decimal

    @classmethod
    def of(cls, rules: ScanRules) -> _Limits:
        return cls(
            dec(rules.min_gap_pct),
            dec(rules.min_price),
            dec(rules.max_price),
            rules.min_premarket_volume,
            dec(rules.min_relative_volume),
        )


def _check(snapshot: Snapshot, limits: _Limits) -> GapCandidate | None:
    # Cheapest tests first: a full-market scan rejects almost everything here.
    if snapshot.premarket_volume < limits.min_volume or snapshot.prev_close <= 0:
        return None
    if not limits.min_price <= snapshot.last <= limits.max_price:
        return None
    gap = snapshot.gap_pct
    if abs(gap) < limits.min_gap:
        return None
    rvol = snapshot.relative_volume
    if rvol < limits.min_rvol:
        return None
    direction = Direction.UP if gap > 0 else Direction.DOWN
    return GapCandidate(snapshot=snapshot, gap_pct=gap, direction=direction, relative_volume=rvol)


def attach_catalysts(
    candidates: Sequence[GapCandidate], headlines: Iterable[Headline]
) -> list[GapCandidate]:
    """Candidates with the headlines that name their symbol, oldest headline first."""
    by_symbol: dict[str, list[Headline]] = {}
    for item in sorted(headlines, key=lambda h: (h.at, h.id)):
        for symbol in item.symbols:
            by_symbol.setdefault(symbol, []).append(item)
    return [_with(c, by_symbol) for c in candidates]


def _with(candidate: GapCandidate, by_symbol: Mapping[str, list[Headline]]) -> GapCandidate:
    found = by_symbol.get(candidate.symbol)
    return replace(candidate, catalysts=tuple(found)) if found else candidate
