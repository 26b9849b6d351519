"""Deterministic, explainable candidate scoring.

Each component maps one feature onto ``[0, 1]`` (saturating at a cap) and multiplies it by its
weight; the score is the sum, so with the default weights it lies in ``[0, 100]``:

    gap        min(|gap %| / gap_cap_pct, 1)
    rvol       min(relative volume / rvol_cap, 1)
    volume     min(pre-market volume / volume_cap, 1)
    catalyst   strongest keyword weight among the headlines (0 when there is no news)
    strength   where the last price sits in the pre-market range, in the gap's direction
               (1 = at the high for a gap up, at the low for a gap down)

The components are kept on the result so a decision can be explained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

from finagent.domain.market import Direction, Headline

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from finagent.domain.gaps import GapCandidate

__all__ = [
    "CATALYST_KEYWORDS",
    "ScoreComponent",
    "ScoreWeights",
    "ScoredCandidate",
    "catalyst_strength",
    "rank",
    "score",
]

CATALYST_KEYWORDS: Mapping[str, float] = MappingProxyType(
    {
        "fda": 1.0,
        "approval": 0.9,
        "merger": 1.0,
        "acquisition": 1.0,
        "acquire": 1.0,
        "earnings": 0.9,
        "guidance": 0.8,
        "offering": 0.7,
        "upgrade": 0.5,
        "downgrade": 0.5,
        "contract": 0.5,
    }
)
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Points per component and the caps at which a feature saturates."""

    gap: float = 30.0
    rvol: float = 25.0
    volume: float = 15.0
    catalyst: float = 20.0
    strength: float = 10.0
    gap_cap_pct: float = 20.0
    rvol_cap: float = 10.0
    volume_cap: int = 2_000_000
    keywords: Mapping[str, float] = field(default_factory=lambda: CATALYST_KEYWORDS)


@dataclass(frozen=True, slots=True)
class ScoreComponent:
    """One term of the score: the raw feature, its [0, 1] level, and the points it earned."""

    name: str
    raw: float
    level: float
    points: float


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    """A candidate with its total score and the components that make it up."""

    candidate: GapCandidate
    score: float
    components: tuple[ScoreComponent, ...]

    @property
    def symbol(self) -> str:
        """The ticker."""
        return self.candidate.symbol

    def explain(self) -> str:
        """One line: each component's points, e.g. ``gap=15.0 rvol=10.0 … total=52.5``."""
        parts = [f"{c.name}={c.points:.1f}" for c in self.components]
        return " ".join([*parts, f"total={self.score:.1f}"])


def catalyst_strength(headlines: Iterable[Headline], keywords: Mapping[str, float]) -> float:
    """The strongest keyword weight found in any headline (word match, case-insensitive)."""
    best = 0.0
    for item in headlines:
        for word in _WORD.findall(item.headline.lower()):
            best = max(best, keywords.get(word, 0.0))
    return best


def _level(raw: float, cap: float) -> float:
    return 0.0 if cap <= 0 else min(max(raw / cap, 0.0), 1.0)


def _strength(candidate: GapCandidate) -> float:
    snap = candidate.snapshot
    span = snap.premarket_high - snap.premarket_low
    if span <= 0:
        return 0.5
    from_low = (snap.last - snap.premarket_low) / span
    level = from_low if candidate.direction is Direction.UP else 1 - from_low
    return float(min(max(level, Decimal(0)), Decimal(1)))


def score(candidate: GapCandidate, weights: ScoreWeights) -> ScoredCandidate:
    """Score a candidate; the same inputs always give the same score and components."""
    gap = float(abs(candidate.gap_pct))
    rvol = float(candidate.relative_volume)
    volume = float(candidate.premarket_volume)
    catalyst = catalyst_strength(candidate.catalysts, weights.keywords)
    strength = _strength(candidate)
    terms = (
        ("gap", gap, _level(gap, weights.gap_cap_pct), weights.gap),
        ("rvol", rvol, _level(rvol, weights.rvol_cap), weights.rvol),
        ("volume", volume, _level(volume, weights.volume_cap), weights.volume),
        ("catalyst", catalyst, min(catalyst, 1.0), weights.catalyst),
        ("strength", strength, strength, weights.strength),
    )
    components = tuple(
        ScoreComponent(name, raw, level, round(level * weight, 4))
        for name, raw, level, weight in terms
    )
    return ScoredCandidate(candidate, round(sum(c.points for c in components), 4), components)


def rank(
    candidates: Iterable[GapCandidate], weights: ScoreWeights, limit: int
) -> list[ScoredCandidate]:
    """The ``limit`` best candidates, highest score first (ties: bigger gap, then symbol)."""
    scored = [score(c, weights) for c in candidates]
    scored.sort(key=lambda s: (-s.score, -abs(s.candidate.gap_pct), s.symbol))
    return scored[: max(limit, 0)]
