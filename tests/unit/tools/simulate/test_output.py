"""Where simulated traffic goes: history and outcome files, and the paced Kafka producer."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import MagicMock, create_autospec

import aiokafka
import orjson
import pytest

from streams.settings import Settings
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.output import produce, write_history, write_outcomes
from streams.tools.simulate.traffic import SimulatedOutcomes
from streams.worker.kafka_clients import kafka_client_kwargs
from tests.support.traffic import sample

# -- files ------------------------------------------------------------------------------------


def test_write_history_writes_one_contract_value_per_line(tmp_path: Path) -> None:
    events = sample(30)
    path = tmp_path / "history.jsonl"
    assert write_history(events, path) == len(events)
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == [e.value for e in events]


def test_write_outcomes_writes_a_csv_with_a_header_in_lead_order(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.csv"
    write_outcomes(SimulatedOutcomes({"sim-000002": "won", "sim-000001": "lost"}), path)
    assert path.read_text(encoding="utf-8") == (
        "lead_id,outcome\nsim-000002,won\nsim-000001,lost\n"
    )


# -- producer ---------------------------------------------------------------------------------


@dataclass
class FakeProducer:
    """aiokafka's AIOKafkaProducer class, autospecced (constructor arguments and method
    signatures are checked against the real class), with each send recorded and acknowledged."""

    cls: MagicMock
    sent: list[tuple[str, bytes | None, bytes, float]] = field(default_factory=list)

    @property
    def instance(self) -> MagicMock:
        """The one producer produce() makes."""
        self.cls.assert_called_once()
        instance: MagicMock = self.cls.return_value
        return instance

    @property
    def kwargs(self) -> dict[str, object]:
        """The keyword arguments the producer was made with."""
        self.cls.assert_called_once()
        return dict(self.cls.call_args.kwargs)

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> asyncio.Future[None]:
        assert value is not None
        self.sent.append((topic, key, value, time.monotonic()))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


@pytest.fixture
def fake_producer(monkeypatch: pytest.MonkeyPatch) -> FakeProducer:
    fake = FakeProducer(create_autospec(aiokafka.AIOKafkaProducer, spec_set=True))
    fake.cls.return_value.send.side_effect = fake.send
    monkeypatch.setattr(aiokafka, "AIOKafkaProducer", fake.cls)
    return fake


@pytest.mark.asyncio
async def test_produce_sends_each_event_to_its_topic(fake_producer: FakeProducer) -> None:
    settings = Settings(LEADQ_TOPIC_PREFIX="t1.", KAFKA_BOOTSTRAP_SERVERS="h1:9092,h2:9093")
    events = sample(30)
    progress: list[int] = []
    handed: list[SimEvent] = []
    sent = await produce(settings, events, None, on_progress=progress.append, on_send=handed.append)
    producer = fake_producer.instance
    assert sent == len(events) == len(fake_producer.sent)
    assert handed == events
    assert progress[-1] == sent
    producer.start.assert_awaited_once()
    producer.flush.assert_awaited()
    producer.stop.assert_awaited_once()
    assert fake_producer.kwargs["bootstrap_servers"] == ["h1:9092", "h2:9093"]
    assert fake_producer.kwargs["acks"] == "all"
    assert fake_producer.kwargs["enable_idempotence"] is True
    for event, (topic, key, value, _) in zip(events, fake_producer.sent, strict=True):
        assert topic == f"t1.leads.{event.kind}"
        assert key == (event.key.encode() if event.key is not None else None)
        assert orjson.loads(value) == event.value


@pytest.mark.asyncio
async def test_produce_paces_to_the_rate_without_drift(fake_producer: FakeProducer) -> None:
    events = sample(30)[:41]
    began = time.monotonic()
    sent = await produce(Settings(), events, rate=200.0)
    elapsed = time.monotonic() - began
    assert sent == 41
    assert 0.19 <= elapsed < 1.0  # 40 intervals of 5 ms
    stamps = [s[3] for s in fake_producer.sent]
    assert stamps[20] - stamps[0] >= 20 / 200 - 0.002


@pytest.mark.asyncio
async def test_produce_rejects_a_non_positive_rate(fake_producer: FakeProducer) -> None:
    with pytest.raises(ValueError, match="rate"):
        await produce(Settings(), [], rate=0)


# -- client connection settings --------------------------------------------------------------


def test_plaintext_client_kwargs_are_just_the_bootstrap_servers() -> None:
    settings = Settings(KAFKA_BOOTSTRAP_SERVERS="a:1, b:2")
    assert kafka_client_kwargs(settings) == {"bootstrap_servers": ["a:1", "b:2"]}


def test_sasl_ssl_client_kwargs() -> None:
    settings = Settings(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        KAFKA_SASL_USERNAME="svc",
        KAFKA_SASL_PASSWORD="s3cret",
    )
    kwargs = kafka_client_kwargs(settings)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "svc"
    assert kwargs["sasl_plain_password"] == "s3cret"
    assert kwargs["ssl_context"] is not None


def test_sasl_plaintext_has_no_ssl_context() -> None:
    settings = Settings(
        KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_USERNAME="u", KAFKA_SASL_PASSWORD="p"
    )
    kwargs = kafka_client_kwargs(settings)
    assert "ssl_context" not in kwargs
    assert kwargs["sasl_mechanism"] == "PLAIN"
