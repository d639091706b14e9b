"""The generated server.properties and log4j2.properties of a broker node."""

from __future__ import annotations

from pathlib import Path

from streams.broker.config import properties_escape
from streams.broker.node import LocalBroker
from tests.support.broker import parse_properties


def test_server_properties_rendering(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, port=29123, properties={"num.partitions": "3", "x.y": "z"})
    props = parse_properties(broker.server_properties(29124))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29124"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29123,CONTROLLER://127.0.0.1:29124"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29123"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path.resolve() / "kraft")
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "true"
    assert props["num.partitions"] == "3"  # extra properties override the defaults
    assert props["x.y"] == "z"


def test_log4j_config_logs_to_file_at_info(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    config = parse_properties(broker.log4j_config().replace(" = ", "="))
    assert config["appender.server.fileName"] == str(tmp_path.resolve() / "logs" / "server.log")
    assert config["rootLogger.level"] == "INFO"
    assert "Console" not in broker.log4j_config()


def test_properties_escape_keeps_values_on_one_line() -> None:
    assert properties_escape("C:\\data\nnext") == "C:\\\\data\\nnext"
