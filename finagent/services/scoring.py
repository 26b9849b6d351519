"""Scoring: rank the session's candidates and keep the best ``max_candidates``.

Owns nothing. Receives the ``score:<date>`` job. Emits ``plan:<date>``, delayed until the
opening range is complete. Restart: permanent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, final

from finagent.domain.jobs import NewJob
from finagent.domain.pipeline import (
    candidate_from_json,
    candidate_to_json,
    plan_due,
    session_from_json,
    session_to_json,
    stage_key,
)
from finagent.domain.scoring import ScoredCandidate, ScoreWeights, rank

if TYPE_CHECKING:
    from collections.abc import Sequence

    from finagent.domain.jobs import Job

__all__ = ["Scoring", "scored_to_json"]

log = logging.getLogger(__name__)


def scored_to_json(s: ScoredCandidate) -> dict[str, Any]:
    """A score with its components, for the job trail and the report."""
    return {
        "symbol": s.symbol,
        "score": s.score,
        "components": {c.name: c.points for c in s.components},
    }


@final
class Scoring:
    """JobHandler for ``score``: ``scoring.rank`` → one delayed plan job."""

    def __init__(self, weights: ScoreWeights, max_candidates: int, range_minutes: int) -> None:
        self._weights = weights
        self._limit = max_candidates
        self._range_minutes = range_minutes

    async def start(self) -> None:
        """Nothing to recover."""

    async def handle(self, job: Job) -> Sequence[NewJob]:
        """Rank the candidates; the plan job runs once the opening range is complete."""
        session = session_from_json(job.payload)
        candidates = [candidate_from_json(c) for c in job.payload["candidates"]]
        ranked = rank(candidates, self._weights, self._limit)
        for s in ranked:
            log.info("score %s %s", s.symbol, s.explain())
        payload = {
            **session_to_json(session),
            "ranked": [candidate_to_json(s.candidate) for s in ranked],
            "scores": [scored_to_json(s) for s in ranked],
        }
        due = plan_due(session, self._range_minutes).timestamp()
        return [NewJob("plan", stage_key("plan", session), payload, run_at=due)]
