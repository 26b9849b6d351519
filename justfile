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

# the test suite with coverage gates (line >= 95 %, branch >= 90 %)
test *ARGS:
    rm -f .coverage .coverage.*
    {{bin}}coverage run -m pytest {{ARGS}}
    {{bin}}coverage combine -q
    {{bin}}coverage report
    {{bin}}coverage json -q -o .coverage.json
    {{bin}}python .ci/coverage_gate.py .coverage.json --line 95 --branch 90

# benchmarks (not timed tests): figures go to docs/benchmarks.md
bench:
    {{bin}}finagent bench actors
    {{bin}}finagent bench queue --jobs 20000 --producers 16
    {{bin}}finagent bench scan --symbols 10000 --runs 5

# the queue's peers (huey, persist-queue: `pip install -e '.[bench]'`) and the floors under its targets
bench-queue-peers:
    {{bin}}python benchmarks/queue_peers.py --jobs 20000 --runs 3
    {{bin}}python benchmarks/queue_floor.py --jobs 20000 --runs 5
