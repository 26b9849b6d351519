"""A real Prometheus scrapes serve_http, evaluates the alert rules, runs the dashboard queries."""

from __future__ import annotations

import pytest
import trio

from finagent.observability.health import Readiness
from finagent.observability.metrics import Metrics
from finagent.services.http import serve_http
from tests.monitoring.prometheus_helpers import MONITORING, running_prometheus
from tests.monitoring.test_monitoring import dashboard_exprs, touch_every_family

GUARD_S = 60  # safety net for the whole exchange; each wait below is bounded on its own


def _value(result: list[dict]) -> float | None:
    return float(result[0]["value"][1]) if len(result) == 1 else None


@pytest.mark.slow
async def test_prometheus_scrapes_known_values_and_fires_the_loss_limit_alert(tmp_path):
    metrics = Metrics(version="e2e")
    touch_every_family(metrics)
    metrics.jobs_completed.labels("plan").inc(7)
    metrics.realized_pnl.set(-123.5)
    metrics.trading_state.state("trading")
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_http, "127.0.0.1", 0, metrics.registry, Readiness())
            async with running_prometheus(
                tmp_path, f"127.0.0.1:{port}", rule_files=[MONITORING / "alerts.yml"]
            ) as prom:
                up = await prom.wait_for(
                    lambda: prom.query('up{job="finagent"}'), lambda r: _value(r) == 1
                )
                assert up[0]["metric"]["instance"] == f"127.0.0.1:{port}"
                completed = await prom.query('finagent_jobs_completed_total{type="plan"}')
                assert _value(completed) == 7
                assert _value(await prom.query("finagent_realized_pnl")) == -123.5
                info = await prom.query("finagent_build_info")
                assert info[0]["metric"]["version"] == "e2e"

                # Every dashboard query parses and runs (an error raises in prom.api).
                for expr in dashboard_exprs():
                    await prom.query(expr)

                # Rules load, and the loss-limit alert fires once the state says so.
                groups = await prom.api("rules")
                rules = {r["name"]: r for g in groups["groups"] for r in g["rules"]}
                assert "FinagentDailyLossLimitHit" in rules
                assert len(rules) == (MONITORING / "alerts.yml").read_text().count("- alert: ")
                metrics.trading_state.state("loss_limit_hit")

                def firing(data: dict) -> set[str]:
                    return {
                        a["labels"]["alertname"] for a in data["alerts"] if a["state"] == "firing"
                    }

                alerts = await prom.wait_for(
                    lambda: prom.api("alerts"), lambda d: "FinagentDailyLossLimitHit" in firing(d)
                )
                assert "FinagentDown" not in firing(alerts)
                groups = await prom.api("rules")
                assert all(
                    r["health"] in ("ok", "unknown") for g in groups["groups"] for r in g["rules"]
                )
            nursery.cancel_scope.cancel()
