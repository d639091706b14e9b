"""What the alert tests share: local HTTP receivers, an in-process service, the group's commits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.alerts.config import parse_config, resolve
from streams.alerts.service import AlertService, alerts_group
from streams.settings import Settings
from tests.support.ports import free_port

WAIT_S = 60.0


@dataclass(frozen=True)
class Reply:
    """What a receiver answers: a status, headers, and optionally waits for `hold` first."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    hold: asyncio.Event | None = None


@dataclass(frozen=True)
class Hit:
    """One request a receiver got, and what it answered."""

    headers: dict[str, str]
    body: bytes
    at: float  # the event loop's clock when it arrived
    status: int

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


# Decides the reply from the request's body and the hits so far with the same body.
Script = Callable[[bytes, int], Reply]


def always(status: int = 200, **headers: str) -> Script:
    return lambda body, seen: Reply(status, headers)


class Receiver:
    """A local HTTP endpoint on 127.0.0.1 that records every request and answers per its
    script; `delivered` holds the requests answered 2xx."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or always(200)
        self.hits: list[Hit] = []
        self.arrived: list[bytes] = []  # bodies as requests arrive, before any hold
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests it was answering at once
        self.port = free_port()
        self._runner: web.AppRunner | None = None
        self._seen: dict[bytes, int] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def delivered(self) -> list[Hit]:
        return [h for h in self.hits if 200 <= h.status <= 299]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = self._seen.get(body, 0)
        self._seen[body] = seen + 1
        reply = self.script(body, seen)
        self.arrived.append(body)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if reply.hold is not None:
                await reply.hold.wait()
        finally:
            self.in_flight -= 1
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.hits.append(Hit(headers, body, asyncio.get_running_loop().time(), reply.status))
        return web.Response(status=reply.status, headers=dict(reply.headers), text="answer")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@contextlib.asynccontextmanager
async def receivers(*scripts: Script | None) -> AsyncIterator[list[Receiver]]:
    """Started receivers, one per script, stopped afterwards."""
    started = [Receiver(s) for s in scripts]
    for r in started:
        await r.start()
    try:
        yield started
    finally:
        for r in started:
            await r.stop()


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll a condition (sync or async) until it holds, within WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_alerts(
    settings: Settings, config: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[AlertService]:
    """An alert service in this process, assigned its partitions; stopped afterwards."""
    parsed = parse_config(config)
    service = AlertService(settings, parsed, resolve(parsed, env or {}))
    await service.start()
    try:
        await service.wait_assigned(WAIT_S)
        yield service
    finally:
        await service.stop()


async def end_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """The end offset of every partition of these topics (names without the prefix)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_list, group_id=None)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(settings.topic(t), p) for t in topics for p in range(settings.partitions)
        ]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def committed_to_end(settings: Settings, topics: list[str]) -> bool:
    """Whether the alert group has committed every partition of the topics to its end."""
    ends = await end_offsets(settings, topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_list)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(alerts_group(settings))
    finally:
        await admin.close()
    return all(
        (meta := committed.get(tp)) is not None and meta.offset == end for tp, end in ends.items()
    )
