"""Scoring: rank the session's candidates and keep the best ``max_candidates``.

Owns nothing. Receives the ``score:<date>`` job. Emits ``plan:<date>``, delayed until the
opening range is complete. Restart: permanent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, final

from finagent.domain.job_types import PlanJob, RankedScore, ScoreJob, payload_as
from finagent.domain.pipeline import plan_due, stage_key
from finagent.domain.scoring import ScoredCandidate, ScoreWeights, rank

if TYPE_CHECKING:
    from collections.abc import Sequence

    from finagent.domain.job_types import JobPayload
    from finagent.domain.jobs import Job, NewJob

__all__ = ["Scoring", "scored_to_json"]

log = logging.getLogger(__name__)


def scored_to_json(s: ScoredCandidate) -> dict[str, Any]:
    """A score with its components, for the job trail and the report."""
    return RankedScore.of(s).encode()


@final
class Scoring:
    """JobHandler for ``score``: ``scoring.rank`` → one delayed plan job."""

    def __init__(self, weights: ScoreWeights, max_candidates: int, range_minutes: int) -> None:
        self._weights = weights
        self._limit = max_candidates
        self._range_minutes = range_minutes

    async def start(self) -> None:
        """Nothing to recover."""

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Rank the candidates; the plan job runs once the opening range is complete."""
        score_job = payload_as(payload, ScoreJob)
        session = score_job.session
        ranked = rank(score_job.candidates, self._weights, self._limit)
        for s in ranked:
            log.info("score %s %s", s.symbol, s.explain())
        plan = PlanJob(
            session, tuple(s.candidate for s in ranked), tuple(RankedScore.of(s) for s in ranked)
        )
        due = plan_due(session, self._range_minutes).timestamp()
        return [plan.job(stage_key("plan", session), run_at=due)]
