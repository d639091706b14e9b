"""On the real broker: a worker started with LEADQ_WEB_PORT serves /healthz, /readyz and
/metrics; the counters match what it did, and its consumer lag goes to 0 once caught up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.settings import Settings
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import SCENARIOS
from streams.worker.topics import TopicNames
from tests.support.kafka import collect, produce, running_workers
from tests.support.ports import free_port
from tests.support.scenarios import scenario_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

WAIT_S = 60.0


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, base: str) -> Samples:
    async with http.get(f"{base}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll a condition until it holds, within WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        await asyncio.sleep(0.2)


async def test_a_worker_serves_health_readiness_and_metrics(
    make_settings: Callable[..., Settings],
) -> None:
    port = free_port()
    settings = make_settings(rules="default", web_port=port)
    scenarios = [s.for_lead(f"m-{s.name}") for s in SCENARIOS if s.preset == "default"]
    messages = scenario_messages(scenarios)
    changes = sum(len(s.expected) for s in scenarios)
    base = f"http://127.0.0.1:{port}"
    async with running_workers(settings), aiohttp.ClientSession() as http:

        async def healthy() -> bool:
            try:
                async with http.get(f"{base}/healthz") as response:
                    return response.status == 200
            except aiohttp.ClientConnectionError:  # not listening yet
                return False

        await until(healthy, "/healthz answers 200")

        async def ready() -> bool:
            async with http.get(f"{base}/readyz") as response:
                return response.status == 200

        await until(ready, "/readyz answers 200")
        await produce_in_order(settings, messages)
        await produce(settings, [("leads.website", b"bad", b"{oops")])
        await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= changes)
        samples: Samples = {}

        async def caught_up() -> bool:
            nonlocal samples
            samples = await scrape(http, base)
            lags = [v for (n, _), v in samples.items() if n == "leadq_consumer_lag"]
            return (
                total(samples, "leadq_stage_changes_total") >= changes
                and bool(lags)
                and all(v == 0 for v in lags)
            )

        await until(caught_up, "every stage change counted and the consumer lag at 0")
    assert total(samples, "leadq_events_total") == len(messages) + 1
    assert samples[("leadq_dead_letters_total", (("reason", "invalid_json"),))] == 1
    assert total(samples, "leadq_stage_changes_total") == changes
    assert samples[("leadq_event_to_stage_change_seconds_count", ())] == changes
    topics = {dict(labels)["topic"] for (n, labels) in samples if n == "leadq_consumer_lag"}
    names = TopicNames.of(settings)
    assert topics == {*names.inputs.values(), names.events_by_lead}
