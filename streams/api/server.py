"""Runs the api: its topic reader and a uvicorn server on one socket, started and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Final

import uvicorn

from streams.api.app import create_app
from streams.api.feed import Feed
from streams.api.metrics import ApiMetrics
from streams.api.reader import TopicReader
from streams.api.replica import Replica
from streams.api.settings import ApiSettings
from streams.core.ruleset import Ruleset
from streams.settings import Settings

STOP_GRACE_S: Final = 2.0  # open /events streams are closed after this long
START_TIMEOUT_S: Final = 30.0


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (OSError when that is not possible)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: whoever runs the api decides on signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """The api on a listening socket, reading its topics into a fresh replica."""

    def __init__(
        self,
        settings: Settings,
        api_settings: ApiSettings,
        rules: Ruleset,
        sock: socket.socket,
        log_level: str = "warning",
    ) -> None:
        self.sock = sock
        self.replica = Replica()
        self.feed = Feed()
        self.metrics = ApiMetrics()
        self.reader = TopicReader(
            settings, self.replica, self.feed, self.metrics, api_settings.max_lag
        )
        token = api_settings.token.get_secret_value() if api_settings.token else None
        app = create_app(self.replica, rules, self.feed, self.metrics, self.reader.readiness, token)
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=log_level in ("info", "debug"),
            lifespan="off",
            timeout_graceful_shutdown=int(STOP_GRACE_S),
            server_header=False,
        )
        self.server = QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        """host:port listened on."""
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        """The base URL (a wildcard address shown as 127.0.0.1, where it is reachable too)."""
        host, port = self.sock.getsockname()[:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    async def serve(self) -> None:
        """Serve until stop() (or cancellation)."""
        reading = asyncio.create_task(self.reader.run())
        reading.add_done_callback(lambda _: self.stop_soon())  # it only ends on a failure
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            reading.cancel()
            await asyncio.wait([reading])
        if not reading.cancelled() and (error := reading.exception()) is not None:
            raise error

    async def start(self) -> None:
        """Serve in the background; return once the server accepts connections."""
        self._task = asyncio.create_task(self.serve())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not self.server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise RuntimeError("the api stopped while starting")
            if loop.time() > deadline:
                raise TimeoutError(f"the api did not start within {START_TIMEOUT_S:g} s")
            await asyncio.sleep(0.05)

    async def wait(self) -> None:
        """Return once the server has stopped."""
        if self._task is not None:
            await self._task

    def stop_soon(self) -> None:
        """Ask the server to stop (from a signal handler, say)."""
        self.server.should_exit = True

    async def stop(self) -> None:
        """Stop serving and reading."""
        self.stop_soon()
        await self.wait()
