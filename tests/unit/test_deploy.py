"""deploy/ stays valid: the compose stack and the Kubernetes manifests wire every service, port,
probe, volume and rules file; the alert rules pass promtool's checks and unit tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.apache_kafka import SERVER_SETTINGS, kafka_version
from shared.settings import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = sorted(DEFAULT_PORTS)
RULES_FILES = {
    "points": ("GAMIFY_RULES_FILE", "rules.yaml"),
    "badges": ("GAMIFY_BADGES_FILE", "badges.yaml"),
    "nudges": ("GAMIFY_NUDGES_FILE", "nudges.yaml"),
    "contests": ("GAMIFY_CONTESTS_FILE", "contests.yaml"),
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_every_service_has_its_module_and_shipped_rules_file() -> None:
    for name in SERVICES:
        assert (ROOT / "services" / name / "__main__.py").exists()
        assert (ROOT / "services" / name / RULES_FILES[name][1]).exists()


def test_compose_wires_every_service_port_and_volume() -> None:
    compose = load(DEPLOY / "compose.yaml")
    services = compose["services"]
    for name in SERVICES:
        svc = services[name]
        port = DEFAULT_PORTS[name]
        assert svc["command"] == ["python", "-m", f"services.{name}"]
        assert svc["environment"]["GAMIFY_HTTP_PORT"] == str(port)
        assert svc["environment"]["GAMIFY_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert svc["environment"]["GAMIFY_DATABASE_URL"].startswith("postgresql://")
        assert svc["ports"] == [f"{port}:{port}"]
        assert set(svc["depends_on"]) == {"kafka", "postgres"}
        assert svc["build"]["dockerfile"] == "Dockerfile"
    assert (DEPLOY / services["points"]["build"]["context"] / "Dockerfile").exists()
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    # What CI ran is what Compose runs: the pinned version and the tested broker settings.
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    env = services["kafka"]["environment"]
    for key, value in SERVER_SETTINGS.items():
        if key in ("process.roles", "node.id", "controller.listener.names"):
            continue
        if key in ("listener.security.protocol.map", "inter.broker.listener.name"):
            continue  # the listeners differ by host name only
        variable = "KAFKA_" + key.upper().replace(".", "_")
        assert str(env.get(variable)) == value, (variable, env.get(variable), value)
    declared = set(compose["volumes"])
    used = set()
    for svc in services.values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{source} is mounted but does not exist"
            else:
                used.add(source)
    assert used == declared

    scrape = load(DEPLOY / "prometheus" / "prometheus.yml")
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == sorted(f"{n}:{DEFAULT_PORTS[n]}" for n in SERVICES)
    # Relative to the config file: compose mounts both into /etc/prometheus.
    assert scrape["rule_files"] == ["alerts.yml"]
    datasource = load(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_kubernetes_manifests_wire_probes_config_secrets_and_scaling() -> None:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s/services.yaml").read_text()) if d]
    by_kind: dict[str, dict[str, Any]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    kustomization = load(DEPLOY / "k8s/kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).exists()
    shipped = kustomization["configMapGenerator"][0]["files"]
    for item in shipped:
        assert (DEPLOY / "k8s" / item.split("=", 1)[1]).exists()
    for name in SERVICES:
        port = DEFAULT_PORTS[name]
        deployment = by_kind["Deployment"][f"gamify-{name}"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"services.{name}"]
        assert container["ports"] == [
            {"name": "http", "containerPort": port},
            {"name": "metrics", "containerPort": 9100},
        ]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == "9100"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]
        env = {e["name"]: e["value"] for e in container["env"]}
        var, file = RULES_FILES[name]
        assert env[var] == f"/etc/gamify/{file}"
        assert f"{file}=../../services/{name}/{file}" in shipped
        assert env["GAMIFY_HTTP_PORT"] == str(port)
        sources = [next(iter(s.values()))["name"] for s in container["envFrom"]]
        assert sources == ["gamify-settings", "gamify-secrets"]
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        assert volumes == [{"name": "rules", "configMap": {"name": "gamify-rules"}}]
        scaled = by_kind["ScaledObject"][f"gamify-{name}"]
        assert scaled["spec"]["scaleTargetRef"]["name"] == f"gamify-{name}"
        [trigger] = scaled["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == f"gamify-{name}"
        service = by_kind["Service"][f"gamify-{name}"]
        assert service["spec"]["ports"][0]["port"] == port
    secret = load(DEPLOY / "k8s/secret.example.yaml")
    assert {"GAMIFY_DATABASE_URL", "GAMIFY_HTTP_TOKEN"} <= set(secret["stringData"])
    assert "secret.example.yaml" not in kustomization["resources"]
    # the rules ConfigMap keeps its name, so that a change reaches running pods (hot reload)
    assert kustomization["configMapGenerator"][0]["options"]["disableNameSuffixHash"] is True
    settings = load(DEPLOY / "k8s/settings.yaml")
    assert settings["data"]["GAMIFY_METRICS_PORT"] == "9100"
    policy = load(DEPLOY / "k8s/networkpolicy.yaml")
    assert "networkpolicy.yaml" in kustomization["resources"]
    rules = {r["ports"][0]["port"]: r["from"][0] for r in policy["spec"]["ingress"]}
    assert rules["metrics"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "prometheus"
    }
    assert rules["http"]["podSelector"]["matchLabels"] == {"gamify.io/read-api-client": "true"}


def dashboard_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((DEPLOY / "grafana/dashboards").glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):  # a row has none
                out.append((path.stem, panel["title"], target["expr"]))
    return out


def test_dashboards_have_the_panels_sres_and_ops_need() -> None:
    titles = {(board, title) for board, title, _ in dashboard_queries()}
    for needed in (
        "Events in per service",
        "Events out per service",
        "Dead letters by reason",
        "Batch latency p50 / p99",
        "Event age at commit p50 / p99",
        "Consumer lag",
        "Outbox backlog",
    ):
        assert ("overview", needed) in titles
    for needed in (
        "Points paid per rule",
        "Badges issued",
        "Reminders sent by segment",
        "Welcome-backs and gifts",
        "Contest entries",
        "Contest votes: cast, and by outcome at the close",
        "Check-in rate per camp (checked in on the previous camp day)",
        "Homework rate by tier (on time / due so far)",
        "Review wait p50 / p90 (promise: 24 hours)",
        "Answer wait p50 / p90 by category (promise: 4 hours)",
        "Queues: works waiting for a review, questions waiting for an answer",
    ):
        assert ("business", needed) in titles


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_alert_rules_pass_promtool_check_and_unit_tests() -> None:
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", "alerts.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 10 rules found" in checked.stdout
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts_test.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_runbook_section() -> None:
    runbook = (DEPLOY / "RUNBOOK.md").read_text(encoding="utf-8")
    alerts = load(DEPLOY / "prometheus/alerts.yml")["groups"][0]["rules"]
    for rule in alerts:
        name = rule["alert"]
        assert f"## {name}" in runbook, name
        assert rule["annotations"]["summary"]
        # A path in this repository, not an address that may not exist where it is read.
        assert rule["annotations"]["runbook"] == f"deploy/RUNBOOK.md#{name.lower()}"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_the_prometheus_config_passes_promtool_where_it_lies() -> None:
    """As an SRE checks it before a deploy: from the repository, not inside the container."""
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "config", str(DEPLOY / "prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
