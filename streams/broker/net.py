"""Addresses and ports of a broker, and probing whether it answers clients."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from streams.broker.errors import BrokerError
from streams.broker.waiting import run_async

__all__ = [
    "choose_controller_port",
    "ephemeral_port",
    "host_port",
    "metadata_answered",
    "port_free",
    "tcp_accepts",
    "wait_until_ready",
]

_PROBE_INTERVAL = 0.25


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def port_free(host: str, port: int) -> bool:
    """Whether a listening socket could bind ``host:port`` now (as the JVM would)."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
    except socket.gaierror as exc:
        raise BrokerError(
            f"cannot resolve the broker host {host!r} ({exc.strerror}); use an IP address "
            "of this machine such as 127.0.0.1."
        ) from exc
    with socket.socket(family, kind, proto) as sock:
        # The JVM binds with SO_REUSEADDR, so sockets in TIME_WAIT must not count as busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise BrokerError(
                f"cannot listen on {host_port(host, port)} ({exc.strerror}); use an IP "
                "address of this machine such as 127.0.0.1 and a port above 1023."
            ) from exc
    return True


def ephemeral_port(host: str) -> int:
    """A port the operating system has free on ``host`` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def choose_controller_port(host: str, port: int, controller_port: int | None) -> int:
    """The controller port for a broker on ``host:port`` after checking both are free.

    An explicit ``controller_port`` must be free; None means ``port + 1`` when that is
    free, else any port the operating system hands out.
    """
    if not port_free(host, port):
        raise BrokerError(
            f"port {port} is in use by another process; stop it or choose another port with --port."
        )
    if controller_port is not None:
        if not port_free(host, controller_port):
            raise BrokerError(
                f"the controller port {controller_port} is in use by another "
                "process; stop it or choose another controller port."
            )
        return controller_port
    if port < 65535 and port_free(host, port + 1):
        return port + 1
    return ephemeral_port(host)


async def tcp_accepts(host: str, port: int, seconds: float) -> bool:
    """Whether a TCP connection to ``host:port`` is accepted within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def metadata_answered(host: str, port: int, seconds: float) -> bool:
    """Whether the broker answers a metadata request listing at least one broker."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=host_port(host, port),
        client_id="leadq-broker-probe",
        request_timeout_ms=max(int(seconds * 1000), 500),
    )
    try:
        async with asyncio.timeout(seconds):
            await admin.start()
            cluster: dict[str, Any] = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await admin.close()


class _NotReady(Exception):
    """The broker did not answer yet."""


class _Exited(Exception):
    """The broker process is gone."""


def wait_until_ready(
    host: str,
    port: int,
    secure_port: int | None,
    alive: Callable[[], bool],
    timeout: float,
) -> bool:
    """Wait until the broker answers a metadata request: True, or False once ``alive()`` fails.

    Also waits for ``secure_port`` (when not None) to accept connections. Returns False as
    well when ``timeout`` passes (the caller tells the cases apart).
    """

    async def wait() -> bool:
        retrying = AsyncRetrying(
            stop=stop_after_delay(max(timeout, 0.0)),
            wait=wait_fixed(_PROBE_INTERVAL),
            retry=retry_if_exception_type(_NotReady),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if not alive():
                        raise _Exited
                    # A plain TCP connect first: cheap, and aiokafka logs errors for
                    # refused connections.
                    if not await tcp_accepts(host, port, 1.0):
                        raise _NotReady
                    if not await metadata_answered(host, port, 5.0):
                        raise _NotReady
                    if secure_port is not None and not await tcp_accepts(host, secure_port, 1.0):
                        raise _NotReady
        except (_NotReady, _Exited):
            return False
        return True

    return run_async(wait)
