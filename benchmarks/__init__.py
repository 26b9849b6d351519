"""finagent's benchmarks: measurements for humans, not timed tests (figures: docs/benchmarks.md).

Run from the repository root: ``python -m benchmarks actors|queue|scan`` for finagent's own
figures, ``python -m benchmarks.queue_peers`` and ``python -m benchmarks.queue_floor`` for the
peers and the floors. They live outside the wheel: a daemon install carries no benchmark code.
"""
