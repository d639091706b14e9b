"""The broker to measure on: KAFKA_BOOTSTRAP_SERVERS if set, else a fresh local Kafka."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from bench.common import say


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def broker(data_dir: Path) -> Iterator[tuple[str, str]]:
    """Yield (bootstrap, "external" | "local"); a local broker is stopped afterwards."""
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if existing:
        say(f"using the broker at {existing} (KAFKA_BOOTSTRAP_SERVERS)")
        yield existing, "external"
        return
    from streams.broker.node import LocalBroker

    local = LocalBroker(data_dir=data_dir, port=free_port(), heap="1g")
    say(f"starting a local Apache Kafka in {data_dir}")
    bootstrap = local.start(timeout=120)
    say(f"local broker at {bootstrap}")
    try:
        yield bootstrap, "local"
    finally:
        say("stopping the local broker")
        local.stop()
