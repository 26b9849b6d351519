"""The benchmarks end to end at a tiny size: each command runs and reports its keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import bench_app


def test_bench_actors_json_reports_the_figures(capsys):
    with pytest.raises(SystemExit) as info:
        bench_app(["actors", "--messages", "400", "--asks", "50", "--json"])
    assert info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("chain_msgs_per_s", "plain_chain_msgs_per_s", "batch_speedup", "ask_p50_us"):
        assert result[key] > 0
    assert result["messages"] == 400


def test_bench_actors_human_output(capsys):
    with pytest.raises(SystemExit):
        bench_app(["actors", "--messages", "400", "--asks", "50"])
    assert "chain of 4 actors" in capsys.readouterr().out


def test_bench_queue_json_reports_the_figures(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        bench_app(
            [
                "queue",
                "--jobs",
                "300",
                "--producers",
                "4",
                "--db-dir",
                str(tmp_path),
                "--json",
            ]
        )
    assert info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["jobs"] == 300
    assert result["producers"] == 4
    assert result["enqueue_jobs_s"] > 0
    assert result["cycle_jobs_s"] > 0
    assert result["enqueue_batched_jobs_s"] > 0 and result["jobs_per_call"] == 32


def test_bench_scan_json_reports_latency(capsys):
    with pytest.raises(SystemExit) as info:
        bench_app(["scan", "--symbols", "300", "--runs", "1", "--json"])
    assert info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["symbols"] == 300
    for feed in ("cold", "warm"):
        stages = result[feed]
        assert stages["total"]["p50"] >= stages["total_pipeline"]["p50"] > 0
        assert stages["decisions"][0] > 0


def test_the_queue_floor_script_runs_every_floor_at_a_tiny_size():
    root = Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.queue_floor", "--jobs", "320", "--runs", "1",
         "--paced-seconds", "0.1", "--json"],
        capture_output=True, text=True, timeout=120, check=False, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for name in ("plumbing_enqueue", "plumbing_cycle", "skeleton_none", "skeleton_inline",
                 "skeleton_thread", "skeleton_sqlite_only", "skeleton_cycle_thread",
                 "skeleton_cycle_sqlite_only"):  # fmt: skip
        assert result[name]["jobs_s"] > 0, name
    for name in ("skeleton_inline", "skeleton_thread", "skeleton_sqlite_only"):
        assert result[name]["batch"] == 16  # 16 producers, one job each: group commit batched
        assert result[name]["store_cpu_us_per_batch"] > 0
    paced = result["skeleton_thread_paced_1000"]
    assert 0 < paced["p50_us"] <= paced["p99_us"]
    meta = result["meta"]
    assert (meta["jobs"], meta["producers"], meta["runs"]) == (320, 16, 1)
