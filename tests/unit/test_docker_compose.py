"""docker-compose.yml and Dockerfile: consistent with each other, the contract and the pins."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from streams.api.security import binding_problem, is_loopback
from streams.broker.versions import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("leadq", "leadq-2")
LEADQ_SERVICES = (*WORKERS, "api")
CONTRACT_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "LEADQ_TOPIC_PREFIX",
    "LEADQ_RULES",
    "LEADQ_DATA_DIR",
    "LEADQ_WEB_PORT",
    "LEADQ_WEB_HOST",
    "LEADQ_API_TOKEN",
    "LEADQ_API_INSECURE",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
}


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"service {name!r} missing"
    svc = services[name]
    assert isinstance(svc, dict)
    return svc


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def listeners(spec: str) -> dict[str, tuple[str, int]]:
    """'NAME://host:port,...' -> {NAME: (host, port)}."""
    out: dict[str, tuple[str, int]] = {}
    for item in spec.split(","):
        name, sep, address = item.strip().partition("://")
        assert sep, f"listener {item!r} has no NAME://"
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def protocol_map() -> dict[str, str]:
    spec = environment("kafka")["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    return dict(item.strip().split(":", 1) for item in spec.split(","))


def test_services_exist() -> None:
    assert {"kafka", *LEADQ_SERVICES} <= set(compose()["services"])


def test_kafka_image_is_the_pinned_version() -> None:
    image = service("kafka")["image"]
    name, _, tag = image.rpartition(":")
    assert name == "apache/kafka"
    assert tag == KAFKA_VERSION


def test_kafka_is_a_single_kraft_node() -> None:
    env = environment("kafka")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    voters = [v.strip() for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")]
    assert [v.split("@", 1)[0] for v in voters] == [node_id]
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1", key
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"


def test_listeners_are_consistent() -> None:
    env = environment("kafka")
    bound = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = protocol_map()
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in bound
    assert controller in protocols
    assert controller not in advertised
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert set(bound) <= set(protocols)
    for name, (_, port) in advertised.items():
        assert name in bound, name
        assert bound[name][1] == port, f"{name} advertises port {port} but binds another"
    # The voter address is the controller listener's port.
    voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")[0].split("@", 1)[1]
    assert int(voter.rpartition(":")[2]) == bound[controller][1]
    # One listener for the host (localhost:9092), one for containers (kafka:19092).
    addresses = set(advertised.values())
    assert ("localhost", 9092) in addresses
    assert ("kafka", 19092) in addresses


def test_port_9092_is_published() -> None:
    ports = [str(p) for p in service("kafka").get("ports", [])]
    published = {tuple(p.split(":")[-2:]) for p in ports}
    assert ("9092", "9092") in published


def test_kafka_has_a_broker_healthcheck() -> None:
    check = service("kafka")["healthcheck"]["test"]
    text = check if isinstance(check, str) else " ".join(check)
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in text
    assert "--bootstrap-server localhost:9092" in text


def test_leadq_builds_from_the_dockerfile() -> None:
    build = service("leadq")["build"]
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    else:
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
    path = ROOT / context / dockerfile
    assert path.is_file()
    text = path.read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in text
    assert 'ENTRYPOINT ["leadq"]' in text
    assert 'CMD ["run"]' in text
    assert service("leadq")["command"] == ["run"]


def test_dockerfile_copies_what_the_package_needs() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for needed in ("pyproject.toml", "schemas", "streams"):
        assert needed in text
    assert "pip install ." in text


def test_leadq_waits_for_a_healthy_kafka() -> None:
    for name in LEADQ_SERVICES:
        depends = service(name)["depends_on"]
        assert isinstance(depends, dict)
        assert depends["kafka"]["condition"] == "service_healthy", name


def test_leadq_connects_to_the_internal_listener() -> None:
    advertised = listeners(environment("kafka")["KAFKA_ADVERTISED_LISTENERS"])
    internal = {f"{host}:{port}" for host, port in advertised.values() if host == "kafka"}
    for name in LEADQ_SERVICES:
        assert environment(name)["KAFKA_BOOTSTRAP_SERVERS"] in internal, name


def test_leadq_uses_only_contract_environment() -> None:
    for name in LEADQ_SERVICES:
        env = environment(name)
        assert set(env) <= CONTRACT_ENV, set(env) - CONTRACT_ENV
        assert env["LEADQ_TOPIC_PREFIX"] == "${LEADQ_TOPIC_PREFIX:-}"
        assert env["LEADQ_RULES"] == "${LEADQ_RULES:-default}"  # next: the workers' rules
    for name in WORKERS:
        assert environment(name)["LEADQ_DATA_DIR"] == "/data"


def test_each_worker_has_a_named_volume_of_its_own() -> None:
    volumes: list[str] = []
    for name in WORKERS:
        mounts = [str(v) for v in service(name).get("volumes", [])]
        volumes += [m.split(":", 1)[0] for m in mounts if m.endswith(":/data")]
    assert len(volumes) == len(set(volumes)) == len(WORKERS)
    assert set(volumes) <= set(compose().get("volumes") or {})


def test_two_workers_and_the_api_run_the_image() -> None:
    for name in WORKERS:
        assert service(name)["command"] == ["run"]
        assert service(name)["build"] == service("leadq")["build"]
    assert service("api")["command"] == ["api"]
    assert service("api")["build"] == service("leadq")["build"]


def test_every_leadq_service_has_a_healthcheck_on_its_own_port() -> None:
    for name in LEADQ_SERVICES:
        check = service(name)["healthcheck"]["test"]
        text = check if isinstance(check, str) else " ".join(check)
        assert f"http://127.0.0.1:{environment(name)['LEADQ_WEB_PORT']}/healthz" in text, name


def test_the_api_may_listen_as_configured_and_is_published_to_the_hosts_loopback() -> None:
    env = environment("api")
    has_token = env.get("LEADQ_API_TOKEN", "") not in ("", "${LEADQ_API_TOKEN:-}")
    insecure = env.get("LEADQ_API_INSECURE") == "1"
    assert binding_problem(env["LEADQ_WEB_HOST"], has_token, insecure) is None
    published = [str(p).rsplit(":", 2) for p in service("api")["ports"]]
    assert [port for _, _, port in published] == [env["LEADQ_WEB_PORT"]]
    if insecure:  # no token: reachable from this machine only
        assert all(is_loopback(host) for host, _, _ in published)


def test_the_alert_service_runs_the_image_with_a_mounted_configuration() -> None:
    alerts = service("alerts")
    assert alerts["build"] == service("leadq")["build"]
    assert alerts["profiles"] == ["alerts"]  # only with --profile alerts: it needs destinations
    command = alerts["command"]
    assert command[:2] == ["alerts", "--config"]
    mounts = [str(v) for v in alerts["volumes"]]
    assert any(m.split(":")[-2] == command[2] and m.endswith(":ro") for m in mounts)
    assert (ROOT / "docs/examples/alerts.toml").is_file()  # the default configuration
    env = environment("alerts")
    assert set(env) <= CONTRACT_ENV, set(env) - CONTRACT_ENV
    assert env["LEADQ_TOPIC_PREFIX"] == "${LEADQ_TOPIC_PREFIX:-}"
    assert alerts["depends_on"]["kafka"]["condition"] == "service_healthy"
    check = " ".join(alerts["healthcheck"]["test"])
    assert f"http://127.0.0.1:{env['LEADQ_WEB_PORT']}/healthz" in check
    # Secrets come from an env file kept out of git, never from the compose file itself.
    assert [f["path"] for f in alerts["env_file"]] == ["./alerts.env"]
    assert "alerts.env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
