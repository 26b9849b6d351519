"""StageStats: the handling-time samples stay bounded in a long-running daemon."""

from finagent.services.stage import StageStats


def test_past_the_bound_the_older_half_of_the_samples_is_dropped() -> None:
    stats = StageStats(max_samples=4)
    for n in range(1, 6):
        stats.add(float(n))
    assert stats.samples == [3.0, 4.0, 5.0]
    assert StageStats().samples == []
