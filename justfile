# finagent recipes. `just check` is what CI runs.
set shell := ["bash", "-euo", "pipefail", "-c"]

bin := if path_exists(".venv/bin/python") == "true" { ".venv/bin/" } else { "" }

# start the daemon on the embedded defaults (SQLite file + simulated market)
up *ARGS:
    {{bin}}finagent up {{ARGS}}

# every gate and every test
check: lint typecheck contracts test

# ruff lint and format check
lint:
    {{bin}}ruff check .
    {{bin}}ruff format --check .

# mypy --strict over both packages
typecheck:
    {{bin}}mypy --strict finagent actors

# import-linter architecture contracts
contracts:
    {{bin}}lint-imports

# the test suite with coverage gates (line 100 %, branch >= 95 %: see docs/architecture.md)
test *ARGS:
    rm -f .coverage .coverage.*
    {{bin}}coverage run -m pytest {{ARGS}}
    {{bin}}coverage combine -q
    {{bin}}coverage report
    {{bin}}coverage json -q -o .coverage.json
    {{bin}}python .ci/coverage_gate.py .coverage.json --line 100 --branch 95

# benchmarks (not timed tests): figures go to docs/benchmarks.md
bench:
    {{bin}}python -m benchmarks actors
    {{bin}}python -m benchmarks queue --jobs 20000 --producers 16
    {{bin}}python -m benchmarks scan --symbols 10000 --runs 5

# the queue's peers (huey, persist-queue: `pip install -e '.[bench]'`) and the floors under its targets
bench-queue-peers:
    {{bin}}python -m benchmarks.queue_peers --jobs 20000 --runs 3
    {{bin}}python -m benchmarks.queue_floor --jobs 20000 --runs 5

# one daemon over 20 simulated sessions: RSS after each (minutes; docs/benchmarks.md)
bench-soak:
    {{bin}}python -m benchmarks soak --sessions 20 --symbols 1000

# a year of sessions through `finagent backtest`, --jobs 1 and 2 (exports the store first: ~2 min, 455 MB)
bench-backtest store="year.db":
    {{bin}}python -m benchmarks backtest --store {{store}} --jobs 1 --jobs 2 --runs 3
