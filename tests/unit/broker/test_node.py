"""The broker node's settings and addresses; no JVM is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.broker.errors import BrokerError
from streams.broker.node import LocalBroker
from tests.support.broker import parse_properties


def test_invalid_ports_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="not a TCP port"):
        LocalBroker(tmp_path, port=70000)
    with pytest.raises(BrokerError, match="must differ"):
        LocalBroker(tmp_path, port=29001, controller_port=29001)


def test_wildcard_host_advertises_loopback(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, port=29123, host="0.0.0.0")
    props = parse_properties(broker.server_properties(29124))
    assert props["listeners"] == "PLAINTEXT://0.0.0.0:29123,CONTROLLER://0.0.0.0:29124"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29123"
    assert broker.bootstrap == "127.0.0.1:29123"


def test_a_broker_without_security_has_no_sasl_password(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    assert broker.secure_files is None
    assert broker.secure_bootstrap is None
    with pytest.raises(BrokerError, match="no SASL_SSL listener"):
        broker.sasl_password()
    with pytest.raises(BrokerError, match="no SASL_SSL listener"):
        broker.client_env()
