"""On the real broker, with two workers splitting the partitions: `leadq api` answers for
leads of both, streams their stage changes, and every endpoint (the workers' too) works."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas.outputs import StageChange
from streams.settings import Settings
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import SCENARIOS
from streams.worker.launch import output_tail, start_worker
from streams.worker.topics import TopicNames, partition_of
from tests.support.api import start_api
from tests.support.kafka import produce
from tests.support.ports import free_port
from tests.support.scenarios import scenario_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

WAIT_S = 60.0
Families = dict[str, Any]


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll a condition until it holds, within WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        await asyncio.sleep(0.2)


async def metrics(http: aiohttp.ClientSession, url: str) -> Families:
    async with http.get(url) as r:
        assert r.status == 200
        return {f.name: f for f in text_string_to_metric_families(await r.text())}


def one_lead_per_partition(partitions: int) -> list[str]:
    """Lead ids whose records land on each partition in turn: every worker owns some."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        lead = f"api-{n}"
        found.setdefault(partition_of(lead.encode(), partitions), lead)
        n += 1
    return [found[p] for p in range(partitions)]


@contextlib.asynccontextmanager
async def following(
    http: aiohttp.ClientSession, url: str
) -> AsyncIterator[list[tuple[float, dict[str, Any]]]]:
    """Read /events in the background: (time received, stage change) pairs."""
    received: list[tuple[float, dict[str, Any]]] = []
    connected = asyncio.Event()

    async def read() -> None:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=None)) as r:
            assert r.status == 200
            connected.set()
            event, data = "", ""
            async for raw in r.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data = line.partition(":")[2].strip()
                elif not line and event == "stage_change":
                    received.append((time.time(), orjson.loads(data)))
                    event, data = "", ""

    task = asyncio.create_task(read())
    await asyncio.wait_for(connected.wait(), WAIT_S)
    try:
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_api_serves_leads_of_two_workers_and_streams_their_changes(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rules="default", web_port=free_port())
    base = f"http://127.0.0.1:{settings.web_port}"
    leads = one_lead_per_partition(settings.partitions)
    sqo = SCENARIOS[1]  # software-demo-sqo: lead -> sql -> sqo
    assert sqo.name == "software-demo-sqo"
    others = [s for s in SCENARIOS if s.preset == "default" and s.name != sqo.name]
    scenarios = [sqo.for_lead(lead) for lead in leads] + [
        s.for_lead(f"api-{s.name}") for s in others
    ]
    changes = sum(len(s.expected) for s in scenarios)
    api = await start_api(settings, "--loglevel", "info")  # before any topic exists
    workers = []
    try:
        async with aiohttp.ClientSession(base) as http:
            async with http.get("/readyz") as r:
                assert r.status == 503
                assert r.headers["Retry-After"] == "5"
                assert (await r.json())["reason"].startswith(("starting", "waiting for topic"))
            async with http.get("/healthz") as r:
                assert r.status == 200

            # Two workers, one app id: they split the partitions.
            worker_ports = [free_port(), free_port()]
            for i, port in enumerate(worker_ports):
                own = settings.model_copy(update={"web_port": port})
                workers.append(await start_worker(own, data_dir=settings.data_dir / f"w{i}"))

            async def ready() -> bool:
                async with http.get("/readyz") as r:
                    return r.status == 200

            await until(ready, "the api is ready")
            async with following(http, "/events") as received:
                await produce_in_order(settings, scenario_messages(scenarios))
                await produce(settings, [("leads.website", b"bad", b"{oops")])

                async def all_streamed() -> bool:
                    return len({c["change_id"] for _, c in received}) >= changes

                await until(all_streamed, f"{changes} stage changes on /events")
            for _, change in received:
                StageChange.model_validate(change)

            for lead in leads:  # on every partition: read from both workers' output
                async with http.get(f"/leads/{lead}") as r:
                    assert r.status == 200, lead
                    found = await r.json()
                assert (found["stage"], found["sequence"], found["next"]) == ("sqo", 2, None)
                assert [c["sequence"] for c in found["changes"]] == [2, 1]
                assert found["changes"][0]["reasons"][0]["description"] == "Asked for a demo"
                assert found["changes"][0]["evidence"] == [f"{lead}:e2", f"{lead}:e3"]
                assert found["since"] == found["changes"][0]["occurred_at"]

            async def sql_state_known() -> bool:  # its state follows its stage change
                async with http.get("/leads/api-software-ebook-sql") as r:
                    return r.status == 200 and (await r.json())["next"] is not None

            await until(sql_state_known, "the SQL lead's state in the api")
            async with http.get("/leads/api-software-ebook-sql") as r:
                sql = await r.json()
            assert sql["stage"] == "sql"
            assert sql["next"]["stage"] == "sqo"
            assert sql["next"]["missing"][0]["description"].startswith("One of: Asked for a demo")

            async def newsletter_known() -> bool:  # a state, no stage change to wait for
                async with http.get("/leads/api-software-newsletter-only") as r:
                    return r.status == 200

            await until(newsletter_known, "the newsletter-only lead's state")
            async with http.get("/leads/api-software-newsletter-only") as r:
                newsletter = await r.json()
            assert (newsletter["stage"], newsletter["sequence"], newsletter["changes"]) == (
                "lead",
                0,
                [],
            )
            assert newsletter["next"]["met"][0]["description"] == "Not a student"
            async with http.get("/leads/nobody") as r:
                assert (r.status, await r.json()) == (404, {"error": "unknown lead"})
            async with http.get("/funnel") as r:
                funnel = await r.json()
            assert funnel["stages"] == {
                "lead": 1,
                "sql": 1,
                "sqo": len(leads),
                "disqualified": 1,
            }
            datetime.fromisoformat(funnel["as_of"])
            async with http.get("/changes", params={"limit": "3"}) as r:
                assert len((await r.json())["changes"]) == 3
            async with http.get("/openapi.json") as r:
                assert "/leads/{lead_id}" in (await r.json())["paths"]
            async with http.get("/") as r:
                assert "live funnel" in await r.text()

            families: Families = {}

            async def caught_up() -> bool:
                nonlocal families
                families = await metrics(http, "/metrics")
                lag = [s.value for s in families["leadq_api_replica_lag"].samples]
                return len(lag) == 3 and not any(lag)

            await until(caught_up, "the api's lag at 0")
            assert families["leadq_api_ready"].samples[0].value == 1
            visible = families["leadq_api_stage_change_visible_seconds"]
            count = next(s.value for s in visible.samples if s.name.endswith("_count"))
            assert count == changes
            topics = {s.labels["topic"] for s in families["leadq_api_replica_lag"].samples}
            names = TopicNames.of(settings)
            assert topics == {names.changelog, names.lead_stages, names.stage_changes}
            requests = families["leadq_api_requests"]
            assert requests.type == "counter"
            assert any(s.labels["route"] == "/leads/{lead_id}" for s in requests.samples)

            for port in worker_ports:
                url = f"http://127.0.0.1:{port}/metrics"

                async def worker_caught_up(url: str = url) -> bool:
                    nonlocal families
                    families = await metrics(http, url)
                    lag = [s.value for s in families["leadq_consumer_lag"].samples]
                    return bool(lag) and not any(lag)

                await until(worker_caught_up, f"{url}: consumer lag at 0")
                types = {name: f.type for name, f in families.items()}
                assert {
                    "leadq_events": "counter",
                    "leadq_dead_letters": "counter",
                    "leadq_stage_changes": "counter",
                    "leadq_event_to_stage_change_seconds": "histogram",
                    "leadq_consumer_lag": "gauge",
                }.items() <= types.items()
    finally:
        await api.stop()
        failing = sys.exc_info()[0] is not None
        for worker in workers:
            if failing or worker.proc.returncode is not None:  # shown with a failure
                print(output_tail(worker))
            await worker.stop()
    # Visibility (a figure, not a bound): from the worker's emission to /events.
    delays = [at - datetime.fromisoformat(c["emitted_at"]).timestamp() for at, c in received]
    print(
        f"stage change emitted -> on /events: median {statistics.median(delays) * 1000:.0f} ms,"
        f" max {max(delays) * 1000:.0f} ms (n={len(delays)})"
    )
