"""docker-compose.yml, the Dockerfile and the Prometheus config agree with the settings and
with each other (no Docker needed: the files are parsed, not run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from app.settings import Settings, documented

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
WORKERS = {"serving": "serving", "pool-fast": "fast", "pool-heavy": "heavy"}
SETTING_NAMES = {var for var, _, _ in documented()}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    """A service's environment as strings, from either compose form (mapping or KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def rendezvous_env(service: dict) -> dict[str, str]:
    return {k: v for k, v in environment(service).items() if k.startswith("RENDEZVOUS_")}


def worker_settings(service: dict) -> Settings:
    return Settings.from_env(rendezvous_env(service))


def published(service: dict) -> set[tuple[int, int]]:
    """(host port, container port) of every short-syntax "[ip:]host:container" mapping."""
    pairs = set()
    for spec in service.get("ports", []):
        *_, host, container = str(spec).split(":")
        pairs.add((int(host), int(container)))
    return pairs


def test_service_names(services):
    assert set(services) == {"kafka", "serving", "pool-fast", "pool-heavy", "demo-producer",
                             "prometheus", "grafana"}


def test_demo_producer_streams_to_the_workers_environment(services):
    producer = services["demo-producer"]
    assert producer["build"]["dockerfile"] == "Dockerfile"
    command = producer["command"]
    assert command[:3] == ["python", "-m", "demo"]
    assert command[command.index("--bootstrap") + 1] == "kafka:9092"
    assert command[command.index("--env") + 1] == worker_settings(services["serving"]).env
    assert producer["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert set(producer["depends_on"]) == {"kafka", "serving", "pool-fast", "pool-heavy"}


def test_kafka_is_a_single_kraft_node(services):
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = environment(kafka)
    assert {"broker", "controller"} <= set(env["KAFKA_PROCESS_ROLES"].split(","))
    advertised = set(env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert {l.split("://")[1] for l in advertised} == {"kafka:9092", "localhost:19092"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert (19092, 19092) in published(kafka)
    test = kafka["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else test
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in command
    assert "--bootstrap-server localhost:9092" in command


@pytest.mark.parametrize("name, role", WORKERS.items())
def test_worker_builds_the_image_and_waits_for_kafka(services, name, role):
    service = services[name]
    build = service["build"]
    assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert environment(service)["RENDEZVOUS_ROLE"] == role
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_rendezvous_variables_are_settings(services):
    used = {k for service in services.values() for k in rendezvous_env(service)}
    assert used <= SETTING_NAMES, used - SETTING_NAMES
    assert {"RENDEZVOUS_BROKER", "RENDEZVOUS_ROLE", "RENDEZVOUS_ENV",
            "RENDEZVOUS_WEB_PORT"} <= used


@pytest.mark.parametrize("name, role", WORKERS.items())
def test_worker_settings_are_valid(services, name, role):
    s = worker_settings(services[name])
    assert s.role == role
    assert s.is_serving == (role == "serving")
    assert s.broker == "kafka://kafka:9092"
    assert s.web_host == "0.0.0.0"
    assert (s.web_port, s.web_port) in published(services[name])


def test_workers_share_environment_and_differ_in_role_and_port(services):
    envs = {name: rendezvous_env(services[name]) for name in WORKERS}
    common = [{k: v for k, v in env.items() if k not in ("RENDEZVOUS_ROLE", "RENDEZVOUS_WEB_PORT")}
              for env in envs.values()]
    assert all(c == common[0] for c in common)
    settings = [worker_settings(services[name]) for name in WORKERS]
    assert len({s.web_port for s in settings}) == len(WORKERS)
    assert len({s.app_id for s in settings}) == len(WORKERS)
    assert len({(s.env, s.partitions) for s in settings}) == 1


def test_prometheus_scrapes_every_worker(services):
    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    source = mounts["/etc/prometheus/prometheus.yml"]
    assert (ROOT / source).resolve() == ROOT / "ops" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load((ROOT / source).read_text())
    jobs = config["scrape_configs"]
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in jobs)
    targets = {t for job in jobs for sc in job["static_configs"] for t in sc["targets"]}
    expected = {f"{name}:{worker_settings(services[name]).web_port}" for name in WORKERS}
    assert targets == expected


def test_dockerfile():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert re.search(r"^RUN pip install \.", text, re.M)
    assert re.search(r"^EXPOSE 6066\s*$", text, re.M)
    cmds = re.findall(r"^CMD (.+)$", text, re.M)
    assert len(cmds) == 1
    cmd = json.loads(cmds[0])
    assert cmd[:4] == ["faust", "-A", "app", "worker"]


GRAFANA = ROOT / "ops" / "grafana"


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard(services):
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert (ROOT / mounts["/etc/grafana/provisioning"]).resolve() == GRAFANA / "provisioning"
    dashboards_dir = (ROOT / mounts["/var/lib/grafana/dashboards"]).resolve()
    assert dashboards_dir == GRAFANA / "dashboards"
    assert "prometheus" in grafana["depends_on"]
    [source] = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml")
                              .read_text())["datasources"]
    prometheus_port = published(services["prometheus"]).pop()[1]
    assert source["url"] == f"http://prometheus:{prometheus_port}"
    [provider] = yaml.safe_load((GRAFANA / "provisioning/dashboards/rendezvous.yml")
                                .read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((dashboards_dir / "rendezvous.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}


def test_the_dashboard_shows_what_the_issue_asks_with_metrics_that_exist():
    from app.metrics import Metrics

    dashboard = json.loads((GRAFANA / "dashboards" / "rendezvous.json").read_text())
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("throughput", "latency percentiles", "fallback rate", "accuracy per model",
                  "drift events"):
        assert topic in titles, topic
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    names = set(re.findall(r"\b(rendezvous_[a-z_]+)", exprs))
    registry = Metrics().registry
    known = {m.name + suffix for m in registry.collect()
             for suffix in ("", "_total", "_bucket", "_count", "_sum")}
    known |= {"rendezvous_served_accuracy_ratio", "rendezvous_model_online_metric"}
    assert names <= known, names - known
