"""Ports of a broker: busy ports refused, the controller port chosen; no JVM is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.broker.errors import BrokerError
from streams.broker.net import choose_controller_port, host_port, port_free
from streams.broker.node import LocalBroker
from tests.support.ports import free_port


def test_port_in_use(tmp_path: Path, listening_socket: int) -> None:
    broker = LocalBroker(tmp_path / "data", port=listening_socket, cache_dir=tmp_path / "c")
    with pytest.raises(BrokerError) as info:
        broker.start(timeout=1)
    message = str(info.value)
    assert message == (
        f"port {listening_socket} is in use by another process; stop it or choose another "
        "port with --port."
    )


def test_explicit_controller_port_in_use(tmp_path: Path, listening_socket: int) -> None:
    broker = LocalBroker(tmp_path / "data", port=free_port(), controller_port=listening_socket)
    with pytest.raises(BrokerError, match="controller port"):
        broker.start(timeout=1)


def test_controller_port_falls_back_when_next_port_is_busy(
    tmp_path: Path, listening_socket: int
) -> None:
    broker = LocalBroker(tmp_path, port=listening_socket - 1)
    if not port_free("127.0.0.1", broker.port):
        pytest.skip("the port below the listening socket happens to be busy")
    chosen = choose_controller_port(broker.host, broker.port, broker.controller_port)
    assert chosen not in (broker.port, listening_socket)


def test_host_port_brackets_ipv6_hosts() -> None:
    assert host_port("127.0.0.1", 9092) == "127.0.0.1:9092"
    assert host_port("::1", 9092) == "[::1]:9092"
