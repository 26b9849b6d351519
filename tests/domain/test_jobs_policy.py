"""Pure job values: back-off and policy validation."""

from __future__ import annotations

import pytest

from finagent.domain.jobs import JobStatus, QueuePolicy, QueueStats, retry_delay


def test_retry_delay_doubles_from_the_base_and_is_capped() -> None:
    assert [retry_delay(n, 1.0, 10.0) for n in range(0, 7)] == [1, 1, 2, 4, 8, 10, 10]
    assert retry_delay(10_000, 0.5, 60.0) == 60.0


@pytest.mark.parametrize(
    "kwargs", [{"lease_s": 0}, {"max_attempts": 0}, {"retry_base_s": -1}, {"retry_max_s": -1}]
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        QueuePolicy(**kwargs)  # type: ignore[arg-type]


def test_stats_total_sums_a_status_over_types() -> None:
    stats = QueueStats({("a", JobStatus.DONE): 2, ("b", JobStatus.DONE): 3}, None)
    assert stats.total(JobStatus.DONE) == 5 and stats.total(JobStatus.DEAD) == 0
