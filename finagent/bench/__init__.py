"""Benchmarks run by `finagent bench ...`: measurements for humans, not timed tests."""
