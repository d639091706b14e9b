"""`leadq api` figures: `python -m bench.api [--leads 2000] [--rate 500]` prints them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer

from bench.broker import broker, free_port
from bench.common import say
from streams.settings import Settings
from streams.tools.simulate.output import produce
from streams.tools.simulate.traffic import generate
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.launch import start_worker, worker_env
from streams.worker.topics import ensure_topics

READY_TIMEOUT_S = 600.0
QUIET_S = 5.0  # the traffic is done once no change has arrived for this long


class Api:
    """A `leadq api` process on a free port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.model_copy(update={"web_port": free_port()})
        self.url = f"http://127.0.0.1:{self.settings.web_port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> float:
        """Start it; the seconds until it is ready (has read its topics)."""
        began = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streams.cli", "api", env=worker_env(self.settings)
        )
        async with aiohttp.ClientSession(self.url) as http:
            while True:
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get("/readyz") as r:
                        if r.status == 200:
                            return time.monotonic() - began
                if time.monotonic() - began > READY_TIMEOUT_S or self.proc.returncode:
                    raise TimeoutError("the api did not catch up")
                await asyncio.sleep(0.05)

    def rss_mb(self) -> float:
        """Its resident memory (Linux)."""
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        return kb / 1024

    async def leads(self) -> int:
        """How many leads it knows (its leadq_api_leads gauge)."""
        async with aiohttp.ClientSession(self.url) as http, http.get("/metrics") as r:
            text = await r.text()
        line = next(line for line in text.splitlines() if line.startswith("leadq_api_leads "))
        return int(float(line.split()[1]))

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


async def _follow(url: str, arrivals: list[tuple[float, dict[str, Any]]]) -> None:
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession() as http, http.get(f"{url}/events", timeout=timeout) as r:
        data = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("data:"):
                data = line.partition(":")[2].strip()
            elif not line and data:
                arrivals.append((time.time(), orjson.loads(data)))
                data = ""


async def _consume(settings: Settings, arrivals: list[tuple[float, dict[str, Any]]]) -> None:
    consumer = AIOKafkaConsumer(
        settings.topic("leads.stage-changes"),
        **kafka_client_kwargs(settings),
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async for message in consumer:
            arrivals.append((time.time(), orjson.loads(message.value)))
    finally:
        await consumer.stop()


def _delays_ms(arrivals: list[tuple[float, dict[str, Any]]]) -> str:
    delays = sorted(
        at - datetime.fromisoformat(change["emitted_at"]).timestamp() for at, change in arrivals
    )
    p99 = delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))]
    within = sum(1 for d in delays if d <= 1.0) / len(delays)
    return (
        f"p50 {statistics.median(delays) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms,"
        f" max {delays[-1] * 1000:.0f} ms, {within:.1%} within 1 s (n={len(delays)})"
    )


async def run(bootstrap: str, data_dir: Path, leads: int, rate: float) -> None:
    """Measure on one deployment of its own; print one line.

    One worker qualifies simulated traffic while an api replica (a `leadq api` process)
    streams its stage changes: the figure is the time from a change's emission (its
    `emitted_at`, the worker's clock) to its arrival on `/events` (this machine's clock:
    the same one), beside the same time to a plain Kafka consumer of `leads.stage-changes`
    (what the api adds is the difference). Then a second replica starts and reads
    everything from the beginning: the time until it is ready, and its resident memory.
    """
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=f"bench-api-{uuid.uuid4().hex[:8]}.",
        data_dir=data_dir,
    )
    await ensure_topics(settings)
    events = generate(leads, seed=3)
    worker = await start_worker(settings)
    first, second = Api(settings), Api(settings)
    arrivals: list[tuple[float, dict[str, Any]]] = []
    consumed: list[tuple[float, dict[str, Any]]] = []
    try:
        await first.start()
        follower = asyncio.create_task(_follow(first.url, arrivals))
        consumer = asyncio.create_task(_consume(settings, consumed))
        await asyncio.sleep(1.0)  # the stream is open, the consumer has its partitions
        say(f"producing {len(events):,} events of {leads:,} leads at {rate:g} events/s")
        await produce(settings, events, rate)
        quiet_since, seen = time.monotonic(), 0
        while time.monotonic() - quiet_since < QUIET_S:
            await asyncio.sleep(0.5)
            if len(arrivals) != seen:
                quiet_since, seen = time.monotonic(), len(arrivals)
        for task in (follower, consumer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        say("a second replica reads everything from the beginning")
        catch_up = await second.start()
        rss, known = second.rss_mb(), await second.leads()
    finally:
        await second.stop()
        await first.stop()
        await worker.stop()
    print(
        f"leadq api, {len(events):,} events of {leads:,} leads at {rate:g} events/s, one worker:"
        f" stage change emitted -> on /events {_delays_ms(arrivals)}; -> read by a plain"
        f" consumer {_delays_ms(consumed)}; a new replica ready after {catch_up:.1f} s with"
        f" {known:,} leads,"
        f" RSS {rss:.0f} MB; {os.cpu_count()} cores, Python {platform.python_version()},"
        f" load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    """Measure, print one line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=500.0, help="events per second")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="leadq-bench-api-") as tmp,
        broker(Path(tmp, "broker")) as (bootstrap, _),
    ):
        asyncio.run(run(bootstrap, Path(tmp, "data"), args.leads, args.rate))


if __name__ == "__main__":
    main()
