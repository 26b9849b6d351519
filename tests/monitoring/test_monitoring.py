"""monitoring/ and docker-compose.yml agree with what the daemon really exposes."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import trio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from finagent.domain.jobs import QueueStats
from finagent.observability.health import Readiness
from finagent.observability.metrics import Metrics
from finagent.services.http import serve_http
from tests.monitoring.prometheus_helpers import MONITORING, REPO

DASHBOARD = MONITORING / "grafana" / "dashboards" / "finagent.json"
PROMETHEUS_BUILTINS = {"up"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels, keywords removed)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(_GROUPING, "", text)
    names = re.findall(r"(?<![\w:.])([A-Za-z_:][\w:]*)\b(?!\s*\()", text)
    return {name for name in names if name.lower() not in _KEYWORDS}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def touch_every_family(m: Metrics) -> None:
    """Give every labelled family one child, so each name appears in the exposition."""
    m.job_latency.labels("scan").observe(0.2)
    for family in (m.jobs_enqueued, m.jobs_completed, m.jobs_failed, m.jobs_dead):
        family.labels("scan").inc()
    m.update_queue_gauges(QueueStats(counts={}, oldest_pending_age_s=None))
    m.api_requests.labels("market", "bars", "ok").inc()
    m.api_retries.labels("market", "bars", "timeout").inc()
    m.actor_restarts.labels("scanner").inc()
    m.actor_up.labels("scanner").set(1)
    m.orders.labels("buy", "filled").inc()
    m.schedule_skipped.labels("premarket_scan").inc()


async def scraped_sample_names() -> set[str]:
    metrics = Metrics(version="test")
    touch_every_family(metrics)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
            port = await nursery.start(serve_http, "127.0.0.1", 0, metrics.registry, Readiness())
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            nursery.cancel_scope.cancel()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_metric_name_extraction_handles_promql_shapes():
    expr = (
        'sum by (le, type) (rate(a_bucket{x="y{z}"}[5m])) / on(job) group_left() b_total'
        ' > bool 0.5 or absent(up{job="f"}) unless max_over_time(c_seconds[1m] offset 5m)'
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "up", "c_seconds"}


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
async def test_every_metric_in_promql_is_really_exposed(source):
    exprs = dashboard_exprs() if source == "dashboard" else alert_exprs()
    used = set().union(*(metric_names(e) for e in exprs))
    assert {n for n in used if n.startswith("finagent_")}, "no finagent metric found"
    exposed = await scraped_sample_names() | PROMETHEUS_BUILTINS
    assert used - exposed == set()


def test_dashboard_has_the_panels_operators_expect():
    dashboard = json.loads(DASHBOARD.read_text())
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for words in ("jobs per second", "latency", "queue depth", "restarts", "loop lag",
                  "retries", "orders", "p&l"):  # fmt: skip
        assert words in titles, words
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    datasource = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {datasource["uid"]}
    assert datasource["url"] == "http://prometheus:9090"


def test_compose_wires_the_app_prometheus_and_grafana():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    default = {name for name, svc in services.items() if "profiles" not in svc}
    assert default == {"finagent", "prometheus", "grafana", "alertmanager", "dashboard"}
    # Alerts: Prometheus -> Alertmanager -> finagent's POST /alertmanager, with its token.
    prom = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (targets,) = [c["targets"] for c in prom["alerting"]["alertmanagers"][0]["static_configs"]]
    assert targets == ["alertmanager:9093"]
    am = yaml.safe_load((MONITORING / "alertmanager.yml").read_text())
    (hook,) = am["receivers"][0]["webhook_configs"]
    assert hook["url"] == "http://finagent:9108/alertmanager"
    token_file = hook["http_config"]["authorization"]["credentials_file"]
    assert token_file == "/run/secrets/finagent_webhook_token"
    assert services["alertmanager"]["secrets"] == ["finagent_webhook_token"]
    assert "FINAGENT_NOTIFY__WEBHOOK_TOKEN" in services["finagent"]["environment"]
    # The dashboard: the same image, the data volume read-only, its password from the env.
    dash = services["dashboard"]
    assert dash["command"][:2] == ["finagent", "dashboard"] and dash["image"] == "finagent:local"
    assert "finagent-data:/data:ro" in dash["volumes"]
    assert dash["ports"] == ["127.0.0.1:8501:8501"]
    password = "FINAGENT_DASHBOARD__PASSWORD"
    assert dash["environment"][password] == f"${{{password}:-}}"
    scale = {name for name, svc in services.items() if svc.get("profiles") == ["scale"]}
    assert scale == {"redis", "daemon-redis", "worker"}
    for name in ("daemon-redis", "worker"):
        env = services[name]["environment"]
        assert env["FINAGENT_QUEUE_BACKEND"] == "redis"
        assert env["FINAGENT_REDIS__URL"].startswith("${FINAGENT_REDIS__URL:-")
    assert services["worker"]["command"][:2] == ["finagent", "worker"]
    app = services["finagent"]
    assert app["build"] == "." and app["command"] == ["finagent", "up"]
    assert any(v.startswith("finagent-data:") for v in app["volumes"])
    # The settings sit where FINAGENT_CONFIG points, outside the /data volume (the database).
    config = app["environment"]["FINAGENT_CONFIG"]
    assert f"./settings.yaml:{config}:ro" in app["volumes"]
    assert not config.startswith("/data/")
    # Secrets only as env, taken from the caller's environment, never a literal value.
    secrets = {k: v for k, v in app["environment"].items() if "ALPACA__" in k}
    assert secrets and all(v == f"${{{k}:-}}" for k, v in secrets.items())
    # Every published port stays on loopback.
    for service in services.values():
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", []))
    # Everything mounted from the repo exists, and Prometheus scrapes the app's service name.
    for service in services.values():
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (REPO / volume.split(":")[0]).exists(), volume
    prom = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    target = prom["scrape_configs"][0]["static_configs"][0]["targets"][0]
    assert target == f"finagent:{app['environment']['FINAGENT_METRICS__PORT']}"
    provider = yaml.safe_load(
        (MONITORING / "grafana/provisioning/dashboards/finagent.yml").read_text()
    )["providers"][0]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    assert mounts["./monitoring/grafana/dashboards"] == provider["options"]["path"]
