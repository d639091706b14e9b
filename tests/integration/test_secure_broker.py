"""SASL_SSL with SCRAM-SHA-512: the local broker offers it, and leadq connects from the
contract's variables without ever showing the password.

One secure broker for the module, started with ``leadq broker start --secure`` on free
ports in a temporary directory (the session's plaintext broker is not involved).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError

from streams.broker.errors import BrokerError
from streams.broker.node import LocalBroker
from streams.broker.tls import BrokerSecurity
from streams.settings import Settings
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import SCENARIOS
from streams.worker.kafka_clients import faust_credentials, kafka_client_kwargs
from streams.worker.launch import start_worker, worker_env
from tests.support.kafka import unique_prefix
from tests.support.ports import free_port
from tests.support.scenarios import scenario_messages

_LEADQ = Path(sys.executable).with_name("leadq")


def _leadq(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    command = [str(_LEADQ)] if _LEADQ.exists() else [sys.executable, "-m", "streams.cli"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class SecureBroker:
    data_dir: Path
    plaintext: str
    env: dict[str, str]  # the contract's variables from secure/client.env
    start_output: str

    @property
    def password(self) -> str:
        return self.env["KAFKA_SASL_PASSWORD"]

    def settings(self, name: str, tmp_path: Path, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.env["KAFKA_BOOTSTRAP_SERVERS"],
            "security_protocol": self.env["KAFKA_SECURITY_PROTOCOL"],
            "sasl_mechanism": self.env["KAFKA_SASL_MECHANISM"],
            "sasl_username": self.env["KAFKA_SASL_USERNAME"],
            "sasl_password": self.password,
            "ssl_cafile": Path(self.env["KAFKA_SSL_CAFILE"]),
            "topic_prefix": unique_prefix(name),
            "data_dir": tmp_path / "data",
            "partitions": 2,
            "timer_interval_s": 3600.0,  # past-dated scenarios: see make_settings
        }
        values.update(overrides)
        return Settings(**values)


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    data_dir = tmp_path_factory.mktemp("secure-broker")
    port, secure_port = free_port(), free_port()
    started = _leadq(
        "broker", "start", "--secure", "--port", str(port), "--secure-port", str(secure_port),
        "--data-dir", str(data_dir), "--timeout", "120",
    )  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr
        env_file = data_dir / "secure" / "client.env"
        assert env_file.stat().st_mode & 0o077 == 0, "client.env is for its owner only"
        env = dict(line.split("=", 1) for line in env_file.read_text(encoding="utf-8").splitlines())
        yield SecureBroker(data_dir, started.stdout.strip(), env, started.stdout + started.stderr)
    finally:
        _leadq("broker", "stop", "--data-dir", str(data_dir), timeout=60)


@pytest.fixture
def make_secure_settings(
    secure_broker: SecureBroker, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        return secure_broker.settings(request.node.name, tmp_path, **overrides)

    return factory


# ----------------------------------------------------------------------------- no JVM


def test_secure_listener_configuration(tmp_path: Path) -> None:
    broker = LocalBroker(
        tmp_path, port=29123, security=BrokerSecurity(port=29125, password="s3cret-Pw")
    )
    text = broker.server_properties(29124)
    props = dict(line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:29123,CONTROLLER://127.0.0.1:29124,SASL_SSL://127.0.0.1:29125"
    )
    assert props["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:29123,SASL_SSL://127.0.0.1:29125"
    )
    assert props["inter.broker.listener.name"] == "PLAINTEXT"  # tooling keeps working
    assert props["listener.security.protocol.map"].endswith(",SASL_SSL:SASL_SSL")
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert (
        "ScramLoginModule required;"
        in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    )
    assert "s3cret-Pw" not in text
    assert "s3cret-Pw" not in repr(broker)
    secure = broker.secure_files
    assert secure is not None
    credential = secure.scram_credential()
    assert credential.startswith("SCRAM-SHA-512=[name=leadq,iterations=8192,salt=")
    assert "s3cret-Pw" not in credential  # salted: the password is not on a command line
    assert broker.client_env()["KAFKA_SASL_PASSWORD"] == "s3cret-Pw"
    assert (broker.secure_dir / "sasl.password").stat().st_mode & 0o077 == 0


def test_secure_start_refuses_a_storage_formatted_without_the_user(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, port=29123, security=BrokerSecurity(port=29125))
    broker.storage_dir.mkdir()
    (broker.storage_dir / "meta.properties").write_text("version=1\n", encoding="utf-8")
    secure = broker.secure_files
    assert secure is not None
    with pytest.raises(BrokerError, match="without the SCRAM user 'leadq'"):
        secure.check_scram_user(broker.storage_dir)
    with pytest.raises(BrokerError, match="must differ"):
        LocalBroker(tmp_path, port=29123, security=BrokerSecurity(port=29123))
    with pytest.raises(BrokerError, match="user name"):
        BrokerSecurity(port=29125, username="a,b=c")


def test_plain_broker_configuration_is_unchanged(tmp_path: Path) -> None:
    plain = LocalBroker(tmp_path, port=29123).server_properties(29124)
    assert "SASL" not in plain
    assert "ssl." not in plain


# ----------------------------------------------------------------------------- broker


async def _round_trip(settings: Settings, topic: str, values: list[bytes]) -> list[bytes]:
    producer = AIOKafkaProducer(**kafka_client_kwargs(settings), acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_client_kwargs(settings),
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < len(values):
                batch = await consumer.getmany(timeout_ms=500)
                got.extend(m.value for msgs in batch.values() for m in msgs)
        await consumer.commit()  # the group coordinator works over SASL_SSL too
    finally:
        await consumer.stop()
    return got


@pytest.mark.integration
@pytest.mark.asyncio
async def test_producer_and_consumer_round_trip_over_sasl_ssl(
    make_secure_settings: Callable[..., Settings],
) -> None:
    settings = make_secure_settings()
    assert settings.security_protocol == "SASL_SSL"
    values = [b"one", b"two", orjson.dumps({"three": 3})]
    assert await _round_trip(settings, settings.topic("round-trip"), values) == values


async def _connection_error(settings: Settings) -> KafkaError:
    """The error a producer with these settings fails to start with."""
    producer = AIOKafkaProducer(**kafka_client_kwargs(settings), request_timeout_ms=10_000)
    try:
        await producer.start()
    except KafkaError as exc:
        return exc
    finally:
        await producer.stop()
    raise AssertionError("the producer connected")


@pytest.mark.integration
@pytest.mark.asyncio
async def test_wrong_password_is_an_authentication_error(
    make_secure_settings: Callable[..., Settings],
    secure_broker: SecureBroker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "not-the-" + secure_broker.password[::-1]
    settings = make_secure_settings(sasl_password=wrong)
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        error = await _connection_error(settings)
    # aiokafka logs the broker's answer and raises "unable to bootstrap".
    assert isinstance(error, KafkaConnectionError)
    assert "SaslAuthenticationFailed" in caplog.text
    assert "invalid credentials" in caplog.text
    for secret in (wrong, secure_broker.password):
        assert secret not in str(error)
        assert secret not in repr(error)
        assert secret not in caplog.text


@pytest.mark.integration
@pytest.mark.asyncio
async def test_tls_is_verified_and_required(
    make_secure_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """Without the local CA the broker's certificate is refused; plaintext SASL is refused."""
    no_ca = make_secure_settings(ssl_cafile=None)  # system CAs only
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        assert isinstance(await _connection_error(no_ca), KafkaConnectionError)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    plaintext = make_secure_settings(security_protocol="SASL_PLAINTEXT")
    assert isinstance(await _connection_error(plaintext), KafkaConnectionError)


@pytest.mark.integration
@pytest.mark.asyncio
async def test_worker_qualifies_a_scenario_over_sasl_ssl(
    make_secure_settings: Callable[..., Settings], secure_broker: SecureBroker
) -> None:
    settings = make_secure_settings()
    env = worker_env(settings)  # how the worker process gets its settings
    for name, value in secure_broker.env.items():
        assert env[name] == value, f"{name} is not passed to the worker"
    scenarios = [s.for_lead(f"secure-{s.name}") for s in SCENARIOS if s.preset == "default"]
    expected = {f"secure-{s.name}": list(s.expected) for s in scenarios}
    total = sum(len(v) for v in expected.values())
    assert total > 0
    worker = await start_worker(settings, loglevel="info")
    try:
        await produce_in_order(settings, scenario_messages(scenarios))
        records = await _collect(settings, "leads.stage-changes", total)
    finally:
        await worker.stop()
    got: dict[str, list[tuple[str, str]]] = {}
    for r in records:
        got.setdefault(r["lead_id"], []).append((r["from_stage"], r["to_stage"]))
    assert got == {k: v for k, v in expected.items() if v}
    assert worker.lines, "the worker printed nothing"
    output = "\n".join(worker.lines)
    assert secure_broker.password not in output


async def _collect(settings: Settings, topic: str, count: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        **kafka_client_kwargs(settings),
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                records.extend(orjson.loads(m.value) for msgs in batch.values() for m in msgs)
        batch = await consumer.getmany(timeout_ms=1500)  # nothing more should come
        records.extend(orjson.loads(m.value) for msgs in batch.values() for m in msgs)
    finally:
        await consumer.stop()
    return records


@pytest.mark.integration
@pytest.mark.asyncio
async def test_the_password_is_never_shown(
    make_secure_settings: Callable[..., Settings], secure_broker: SecureBroker
) -> None:
    password = secure_broker.password
    settings = make_secure_settings()
    shown = [
        repr(settings),
        str(settings),
        repr(settings.sasl_password),
        str(settings.model_dump()),
        repr(faust_credentials(settings)),
        secure_broker.start_output,  # `leadq broker start --secure`
    ]
    # A settings error names the bad variable, not the others' values.
    with pytest.raises(ValidationError) as invalid:
        make_secure_settings(security_protocol="TLS")
    shown += [str(invalid.value), repr(invalid.value)]
    # The broker never sees it in clear (SCRAM stores a salted hash) nor logs it.
    logs = secure_broker.data_dir / "logs"
    shown += [p.read_text(encoding="utf-8", errors="replace") for p in logs.iterdir()]
    shown.append((secure_broker.data_dir / "server.properties").read_text(encoding="utf-8"))
    # A worker with a wrong password fails with the broker's answer, not the password.
    wrong = "wrong-" + password[::-1]
    failing = await start_worker(
        make_secure_settings(sasl_password=wrong), wait=False, loglevel="info"
    )
    try:
        code = await asyncio.wait_for(failing.proc.wait(), 90)
    finally:
        await failing.stop()
    output = "\n".join(failing.lines)
    assert code != 0
    assert "SaslAuthenticationFailed" in output or "Authentication failed" in output, output
    shown.append(output)
    for text in shown:
        assert password not in text
        assert wrong not in text


@pytest.mark.integration
def test_leadq_run_settings_error_does_not_echo_the_password(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    env = {**os.environ, **secure_broker.env, "KAFKA_SECURITY_PROTOCOL": "TLS"}
    env["LEADQ_DATA_DIR"] = str(tmp_path / "cli")
    command = [str(_LEADQ)] if _LEADQ.exists() else [sys.executable, "-m", "streams.cli"]
    cli = subprocess.run(
        [*command, "run"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert cli.returncode != 0
    assert "KAFKA_SECURITY_PROTOCOL" in cli.stderr, cli.stderr
    assert secure_broker.password not in cli.stdout + cli.stderr
