"""Delivery latency: from a stage change written to Kafka to a webhook receiver's 2xx answer."""

from __future__ import annotations

import base64
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from bench.common import OffsetWatch, frozen_heap, say, wait_for
from bench.latency import LOAD_LINGER_MS, MIN_RATE, warm_up
from bench.preload import simulate_events
from bench.report import percentile
from bench.worker import launch
from streams.alerts.launch import start_alerts
from streams.settings import Settings
from streams.tools.simulate.output import produce
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.launch import output_tail
from streams.worker.topics import TopicNames, ensure_topics

LEAD_PREFIX = "dlv"  # the timed load's leads (the warm-up's are "warm-up-...")
SECRET_ENV = "LEADQ_BENCH_WEBHOOK_SECRET"
DELIVERED_TIMEOUT_S = 60.0  # after the worker is done, for the last deliveries


@dataclass
class DeliveryResult:
    """Per stage change of the timed load: ms from its Kafka timestamp to the 2xx."""

    offered_rate: float
    events: int
    changes: int  # stage changes of the timed load's leads written to Kafka
    samples_ms: list[float] = field(default_factory=list)

    @property
    def undelivered(self) -> int:
        return self.changes - len(self.samples_ms)

    def line(self) -> str:
        """One line for the progress output."""
        lat = self.samples_ms
        return (
            f"delivery: p50 {percentile(lat, 0.5):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms,"
            f" max {max(lat, default=float('nan')):.1f} ms over {len(lat):,} of"
            f" {self.changes:,} stage changes"
        )


class InstantReceiver:
    """A webhook endpoint on 127.0.0.1 that answers 204 at once and notes, per webhook-id,
    when the first request arrived (time.time())."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        self.arrived.setdefault(request.headers.get("webhook-id", ""), time.time())
        await request.read()
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self.sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def write_config(folder: Path, url: str) -> Path:
    """The alerts configuration: every stage change to the receiver (defaults otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "alerts.toml"
    path.write_text(
        f'[[destination]]\nname = "bench"\nkind = "webhook"\nurl = "{url}"\n'
        f'secret_env = "{SECRET_ENV}"\n',
        encoding="utf-8",
    )
    return path


def delivery_ms(written: dict[str, float], arrived: dict[str, float]) -> list[float]:
    """ms from each change's Kafka timestamp (ms, by change_id) to its first arrival."""
    return [(arrived[cid] - ms / 1000) * 1000 for cid, ms in written.items() if cid in arrived]


async def run_delivery(
    settings: Settings, rate: float, duration_s: float, seed: int, data_dir: Path
) -> DeliveryResult:
    """Offer `rate` events/s for `duration_s` to one fresh worker, with `leadq alerts`
    delivering every stage change to a local receiver that answers at once."""
    settings = settings.model_copy(update={"data_dir": data_dir})
    names = TopicNames.of(settings)
    await ensure_topics(settings)
    count = int(rate * duration_s)
    events = simulate_events(count, seed, LEAD_PREFIX)
    receiver = InstantReceiver()
    await receiver.start()
    path = write_config(data_dir, receiver.url)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    launched = await launch(settings)
    alerts = None
    try:
        alerts = await start_alerts(settings, path, {SECRET_ENV: secret})
        await warm_up(settings, names, seed, rate)
        say(f"delivery: offering {len(events):,} events at {rate:,.0f}/s")
        with frozen_heap(collector_off=True):
            await produce(settings, events, rate, linger_ms=LOAD_LINGER_MS)
            async with OffsetWatch(settings) as watch:
                input_ends = await watch.ends(names.inputs.values())
                groups = (settings.worker_group, settings.ingest_group)

                async def processed() -> bool:
                    committed = await watch.committed(*groups)
                    return await watch.processed(
                        committed, input_ends, names.events_by_lead, ticks_too=False
                    )

                try:
                    await wait_for(processed, len(events) / MIN_RATE + 60, "delivery drain")
                except TimeoutError as exc:
                    raise TimeoutError(f"{exc}; {output_tail(launched.worker)}") from None
        written = await _written(settings)

        async def delivered() -> bool:
            return all(cid in receiver.arrived for cid in written)

        try:
            await wait_for(delivered, DELIVERED_TIMEOUT_S, "deliveries", interval=0.1)
        except TimeoutError:
            say(f"delivery: {sum(c not in receiver.arrived for c in written)} not delivered")
    finally:
        if alerts is not None:
            await alerts.stop()
        await launched.worker.stop()
        await receiver.stop()
    return DeliveryResult(
        offered_rate=rate,
        events=len(events),
        changes=len(written),
        samples_ms=delivery_ms(written, receiver.arrived),
    )


async def _written(settings: Settings) -> dict[str, float]:
    """change_id -> Kafka timestamp (ms) of every stage change of the timed load's leads."""
    topic = TopicNames.of(settings).stage_changes
    async with OffsetWatch(settings) as watch:
        ends = await watch.ends([topic])
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    written: dict[str, float] = {}
    try:
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        consumer.assign(list(remaining))
        await consumer.seek_to_beginning(*remaining)
        deadline = time.monotonic() + DELIVERED_TIMEOUT_S
        while remaining:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"stage changes not read in {DELIVERED_TIMEOUT_S:g}s")
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, messages in batch.items():
                for m in messages:
                    change = orjson.loads(m.value)
                    if str(change["lead_id"]).startswith(f"{LEAD_PREFIX}-"):
                        written.setdefault(change["change_id"], float(m.timestamp))
                if messages and messages[-1].offset + 1 >= remaining[tp]:
                    del remaining[tp]
    finally:
        await consumer.stop()
    return written
