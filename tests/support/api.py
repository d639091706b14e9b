"""What the api's tests share: a replica filled by the core, real servers, `leadq api` runs."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI

from streams.api.app import create_app
from streams.api.feed import Feed
from streams.api.metrics import ApiMetrics
from streams.api.replica import Replica
from streams.api.server import QuietServer
from streams.core.qualify import Qualifier
from streams.core.replay import replay_stream
from streams.core.ruleset import Ruleset
from streams.settings import Settings
from streams.tools.expected import valid_events
from streams.tools.scenarios import SCENARIOS
from streams.worker.codec import encode_lead_stage, encode_stage_change, encode_state
from streams.worker.launch import worker_env
from tests.support.ports import free_port

START_TIMEOUT_S = 30.0
READY_LINE = "leadq api serving on"
EMITTED_AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def scenario_replica(rules: Ruleset, prefix: str = "") -> Replica:
    """A replica fed, as a worker would feed it, with the records of the article's scenarios
    for this ruleset (states, current stages and stage changes, made by the core)."""
    messages = []
    for scenario in SCENARIOS:
        if scenario.preset == rules.name:
            for step in scenario.for_lead(f"{prefix}{scenario.name}").steps:
                messages.append((step.kind, step.value))
    events, _ = valid_events(messages)
    replay = replay_stream(Qualifier(rules), events)
    replica = Replica()
    for key, state in replay.states.items():
        replica.apply_state(key.encode(), encode_state(state))
    for key, changes in replay.changes.items():
        for change in changes:
            replica.apply_change(key.encode(), encode_stage_change(change, EMITTED_AT))
            replica.apply_lead_stage(key.encode(), encode_lead_stage(change))
    return replica


@dataclass
class ServedApi:
    """An api app over a replica, and what it was built with."""

    replica: Replica
    feed: Feed = field(default_factory=Feed)
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    ready: tuple[bool, str | None] = (True, None)

    def app(self, rules: Ruleset, token: str | None = None) -> FastAPI:
        return create_app(
            self.replica, rules, self.feed, self.metrics, lambda: self.ready, token=token
        )


def _server(app: FastAPI, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    return QuietServer(config)


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve the app on a free loopback port in this event loop; yield its base URL."""
    port = free_port()
    server = _server(app, port)
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    try:
        while not server.started:
            assert not task.done(), "the server stopped while starting"
            assert loop.time() < deadline, "the server did not start"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def serving_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve the app on a free loopback port from a thread of its own (for synchronous
    clients); yield its base URL."""
    port = free_port()
    server = _server(app, port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(int(START_TIMEOUT_S / 0.02)):
            if server.started:
                break
            thread.join(0.02)
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)


@dataclass
class ApiProcess:
    """A `leadq api` process and its output lines (stdout and stderr together)."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    serving: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    async def read_output(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            if READY_LINE in line:
                self.serving.set()

    async def wait_serving(self, timeout: float = START_TIMEOUT_S) -> None:
        waiter = asyncio.ensure_future(self.serving.wait())
        exited = asyncio.ensure_future(self.proc.wait())
        await asyncio.wait({waiter, exited}, timeout=timeout, return_when="FIRST_COMPLETED")
        waiter.cancel()
        exited.cancel()
        if not self.serving.is_set():
            raise TimeoutError("leadq api is not serving; output:\n" + "\n".join(self.lines))

    async def stop(self) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 5)
        return self.proc.returncode or 0

    async def finished(self, timeout: float = START_TIMEOUT_S) -> int:
        """Wait for the process to exit by itself; its exit code."""
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 5)
        return code


async def start_api(settings: Settings, *args: str, wait: bool = True, **env: str) -> ApiProcess:
    """Start `leadq api` with these settings (and extra environment), by default waiting
    until it serves."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        "api",
        *args,
        env={**worker_env(settings), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    api = ApiProcess(proc)
    api.reader = asyncio.ensure_future(api.read_output())
    if wait:
        await api.wait_serving()
    return api


def sse_events(text: str) -> list[dict[str, Any]]:
    """The events of a server-sent events text: their fields (data lines joined)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if fields:
            events.append(fields)
    return events
