"""One destination's lane over real HTTP on 127.0.0.1 (no Kafka): a lead in order while
others go on, bounded concurrency, revoked records dropped, dead letters when giving up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiokafka import TopicPartition
from pydantic import SecretStr

from streams.alerts.config import Destination, Target
from streams.alerts.lanes import Lane, Received
from streams.alerts.metrics import AlertMetrics
from streams.alerts.routing import read_event
from streams.alerts.send import Sender
from tests.support.alert_records import new_secret, stage_change
from tests.support.alerts import Receiver, Reply, always, receivers, until

pytestmark = pytest.mark.asyncio

FAST = {"timeout": "1s", "backoff": "20ms", "backoff_max": "50ms"}


def received(lead: str, sequence: int, partition: int = 0, age_s: float = 0.0) -> Received:
    value = stage_change(lead, sequence, "lead" if sequence == 1 else "sql", "sql")
    event = read_event("stage_changes", orjson.dumps(value))
    written_ms = int((time.time() - age_s) * 1000)
    return Received(
        TopicPartition("leads.stage-changes", partition), sequence, written_ms, event, 1
    )


class Harness:
    """A lane to one receiver, with what it finished and dead-lettered."""

    def __init__(self, sender: Sender, receiver: Receiver, **options: Any) -> None:
        rules = Destination(
            name="crm", kind="webhook", url=receiver.url, secret_env="S", **{**FAST, **options}
        )
        self.finished: list[Received] = []
        self.letters: list[dict[str, Any]] = []
        self.metrics = AlertMetrics()
        target = Target(rules, SecretStr(receiver.url), SecretStr(new_secret()))
        self.lane = Lane(target, sender, self.sink, self.metrics, self.finished.append, time.time)

    async def sink(self, key: bytes, value: bytes) -> None:
        self.letters.append(orjson.loads(value))

    def done(self) -> list[str]:
        return [r.event.webhook_id for r in self.finished]


@pytest_asyncio.fixture
async def sender() -> AsyncIterator[Sender]:
    async with aiohttp.ClientSession() as session:
        yield Sender(session)


def failing_first(webhook_id: str, times: int) -> Callable[[bytes, int], Reply]:
    needle = f'"change_id":"{webhook_id}"'.encode()
    return lambda body, seen: Reply(503) if needle in body and seen < times else Reply(200)


async def test_a_lead_waits_for_its_retrying_head_and_others_do_not(sender: Sender) -> None:
    async with receivers(failing_first("ann:1", 3)) as (crm,):
        lanes = Harness(sender, crm)
        for record in (received("ann", 1), received("ann", 2), received("bob", 1)):
            lanes.lane.add(record)
        await until(lambda: len(lanes.finished) == 3, "all three finished")
    assert lanes.done().index("bob:1") < lanes.done().index("ann:1") < lanes.done().index("ann:2")
    assert [(h.webhook_id, h.status) for h in crm.hits if h.webhook_id.startswith("ann")] == [
        ("ann:1", 503),
        ("ann:1", 503),
        ("ann:1", 503),
        ("ann:1", 200),
        ("ann:2", 200),
    ]
    assert (
        lanes.metrics.registry.get_sample_value("leadq_alert_retries_total", {"destination": "crm"})
        == 3
    )
    assert lanes.letters == []
    assert lanes.lane.runners == {}


async def test_concurrency_is_bounded(sender: Sender) -> None:
    release = asyncio.Event()
    async with receivers(lambda body, seen: Reply(200, hold=release)) as (crm,):
        lanes = Harness(sender, crm, concurrency=2)
        for n in range(6):
            lanes.lane.add(received(f"lead-{n}", 1))
        await until(lambda: len(crm.arrived) == 2, "two requests in flight")
        release.set()
        await until(lambda: len(lanes.finished) == 6, "all delivered")
    assert crm.most_in_flight == 2


async def test_dropped_records_stop_and_the_lead_goes_on(sender: Sender) -> None:
    held = asyncio.Event()
    ann_1 = b'"change_id":"ann:1"'
    script = lambda body, seen: Reply(200, hold=held) if ann_1 in body else Reply(200)  # noqa: E731
    async with receivers(script) as (crm,):
        lanes = Harness(sender, crm)
        lanes.lane.add(received("ann", 1, partition=0))
        lanes.lane.add(received("ann", 2, partition=1))  # e.g. an SLA event, another topic
        lanes.lane.add(received("bob", 1, partition=0))
        await until(lambda: len(crm.arrived) == 2, "ann:1 and bob:1 sent")
        await until(lambda: "bob:1" in lanes.done(), "bob:1 finished")
        await lanes.lane.drop(lambda r: r.tp.partition == 0)
        await until(lambda: "ann:2" in lanes.done(), "ann goes on with ann:2")
        held.set()
    assert lanes.done() == ["bob:1", "ann:2"]  # ann:1 was dropped, never finished here
    assert (
        lanes.metrics.registry.get_sample_value("leadq_alert_waiting", {"destination": "crm"}) == 0
    )


async def test_close_stops_every_delivery(sender: Sender) -> None:
    async with receivers(always(503)) as (crm,):
        lanes = Harness(sender, crm)
        lanes.lane.add(received("ann", 1))
        await until(lambda: len(crm.hits) >= 2, "retrying")
        await lanes.lane.close()
        tried = len(crm.hits)
    assert lanes.finished == []
    assert lanes.letters == []
    assert len(crm.hits) == tried


async def test_old_records_give_up_into_the_dead_letter(sender: Sender) -> None:
    async with receivers(always(503)) as (crm,):
        lanes = Harness(sender, crm, max_age="1h")
        lanes.lane.add(received("ann", 1, age_s=7200))  # written two hours ago
        await until(lambda: len(lanes.finished) == 1, "given up")
    (letter,) = lanes.letters
    assert (letter["reason"], letter["attempts"], letter["last_status"]) == ("expired", 1, 503)
    assert len(crm.hits) == 1  # one attempt, then max_age had passed


async def test_a_gone_destination_takes_nothing_more(sender: Sender) -> None:
    async with receivers(always(410)) as (crm,):
        lanes = Harness(sender, crm)
        lanes.lane.add(received("ann", 1))
        await until(lambda: len(lanes.finished) == 1, "the first given up")
        lanes.lane.add(received("bob", 1))
        await until(lambda: len(lanes.finished) == 2, "the second given up")
    assert [(d["webhook_id"], d["reason"], d["attempts"]) for d in lanes.letters] == [
        ("ann:1", "gone", 1),
        ("bob:1", "disabled", 0),
    ]
    assert len(crm.hits) == 1
    assert lanes.lane.disabled


async def test_after_a_410_nothing_more_is_sent_not_even_what_waited_for_a_slot(
    sender: Sender,
) -> None:
    answer = asyncio.Event()
    async with receivers(lambda body, seen: Reply(410, hold=answer)) as (crm,):
        lanes = Harness(sender, crm, concurrency=2)
        for n in range(6):
            lanes.lane.add(received(f"lead-{n}", 1))
        await until(lambda: len(crm.arrived) == 2, "two requests in flight, four waiting")
        answer.set()
        await until(lambda: len(lanes.finished) == 6, "all given up")
    reasons = sorted((d["reason"], d["attempts"]) for d in lanes.letters)
    assert reasons == [("disabled", 0)] * 4 + [("gone", 1)] * 2
    assert len(crm.hits) == 2
