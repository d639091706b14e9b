"""The agents in isolation with faust's test_context: decode, core, table, send."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from schemas.decode import Rejection, decode
from streams.app import Worker, build
from streams.codec import decode_state, encode_lead_event, to_lead_event
from streams.rekey import RekeyBuffer
from streams.scenarios import scenario
from streams.settings import Settings
from streams.timers import encode_tick
from streams.topics import partition_of

pytestmark = pytest.mark.asyncio

AGENT_TIMEOUT_S = 10.0


class Recorder:
    """Stands in for a topic's send(): records what an agent sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, Any]] = []
        self.partitions: list[int | None] = []

    async def send(
        self, *, key: bytes | None = None, value: bytes, partition: int | None = None, **_: Any
    ) -> asyncio.Future[None]:
        self.sent.append((key, orjson.loads(value)))
        self.partitions.append(partition)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def until(condition: Callable[[], bool]) -> None:
    """Return once the condition holds (bound it with asyncio.wait_for)."""
    while True:
        if condition():
            return
        await asyncio.sleep(0.01)


@pytest.fixture
def worker(tmp_path: Any) -> Worker:
    return build(Settings(topic_prefix="agents.", data_dir=tmp_path, rules="default"))


@pytest.fixture
def outputs(worker: Worker) -> dict[str, Recorder]:
    recorders = {name: Recorder() for name in ("by_lead", "stage_changes", "dead_letter")}
    for name, recorder in recorders.items():
        getattr(worker, name).send = recorder.send
    return recorders


async def test_ingest_rejects_bad_input_with_reason_and_rekeys_valid_events(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    valid = scenario("software-ebook-sql").for_lead("L-7").steps[1].value
    async with worker.ingest["website"].test_context() as agent:
        await asyncio.wait_for(agent.put(b"{oops", key=b"raw-key"), AGENT_TIMEOUT_S)
        await asyncio.wait_for(agent.put(orjson.dumps(valid), key=None), AGENT_TIMEOUT_S)
    [(dl_key, dead)] = outputs["dead_letter"].sent
    assert dl_key == b"raw-key"
    assert dead["error"]["code"] == "invalid_json"
    assert dead["source_topic"] == "agents.leads.website"
    assert dead["value"] == "{oops"
    [(_, [rekeyed])] = outputs["by_lead"].sent
    assert rekeyed["k"] == "L-7"
    assert rekeyed["e"]["i"] == valid["event_id"]


async def test_qualify_sends_changes_and_stores_state_and_ignores_duplicates(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    steps = scenario("software-demo-sqo").for_lead("L-9").steps
    async with worker.ingest["website"].test_context() as ingest_web:
        for step in steps[:2]:
            await asyncio.wait_for(ingest_web.put(orjson.dumps(step.value)), AGENT_TIMEOUT_S)
    async with worker.ingest["call"].test_context() as ingest_call:
        await asyncio.wait_for(ingest_call.put(orjson.dumps(steps[2].value)), AGENT_TIMEOUT_S)
    rekeyed = outputs["by_lead"].sent
    async with worker.qualify.test_context() as agent:
        for key, value in [*rekeyed, rekeyed[0]]:  # the first event is delivered twice
            await asyncio.wait_for(agent.put(orjson.dumps(value), key=key), AGENT_TIMEOUT_S)
        state = decode_state(worker.table.get(b"L-9"))
    changes = [value for _, value in outputs["stage_changes"].sent]
    assert [(c["from_stage"], c["to_stage"], c["sequence"]) for c in changes] == [
        ("lead", "sql", 1),
        ("sql", "sqo", 2),
    ]
    assert {k for k, _ in outputs["stage_changes"].sent} == {b"L-9"}
    assert state is not None
    assert state.stage == "sqo"
    assert state.sequence == 2


async def test_profile_update_affects_fit_for_later_events(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    profile = {"lead_id": "L-3", "updated_at": "2026-03-01T00:00:00Z", "seniority": "vp"}
    async with worker.ingest["profile"].test_context() as agent:
        await asyncio.wait_for(agent.put(orjson.dumps(profile), key=b"L-3"), AGENT_TIMEOUT_S)
    ebook = scenario("software-ebook-sql").for_lead("L-3").steps[1].value
    async with worker.ingest["website"].test_context() as agent:
        await asyncio.wait_for(agent.put(orjson.dumps(ebook)), AGENT_TIMEOUT_S)
    async with worker.qualify.test_context() as agent:
        for key, value in outputs["by_lead"].sent:
            await asyncio.wait_for(agent.put(orjson.dumps(value), key=key), AGENT_TIMEOUT_S)
    [(_, change)] = outputs["stage_changes"].sent
    assert change["scores"]["fit"] == 20


async def test_ingest_sends_a_batch_as_one_record_per_lead_partition(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    leads = [f"L-{n}" for n in range(12)]
    values = [
        orjson.dumps(scenario("software-ebook-sql").for_lead(lead).steps[1].value) for lead in leads
    ]
    async with worker.ingest["website"].test_context() as agent:
        for value in values:
            await asyncio.wait_for(agent.put(value), AGENT_TIMEOUT_S)
    by_lead = outputs["by_lead"]
    got = [item["k"] for _, items in by_lead.sent for item in items]
    assert sorted(got) == sorted(leads)
    partitions = worker.settings.partitions
    for (_, items), partition in zip(by_lead.sent, by_lead.partitions, strict=True):
        assert {partition_of(item["k"].encode(), partitions) for item in items} == {partition}


async def test_qualify_applies_the_events_of_one_record_in_order(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    steps = scenario("software-demo-sqo").for_lead("L-5").steps
    buffer = RekeyBuffer(worker.settings.partitions)
    for step in [*steps, steps[0]]:  # the first event twice: no further effect
        decoded = decode(step.kind, orjson.dumps(step.value))
        assert not isinstance(decoded, Rejection)
        assert buffer.add("L-5", encode_lead_event(to_lead_event(decoded))) == []
    [record] = buffer.drain()
    async with worker.qualify.test_context() as agent:
        await asyncio.wait_for(
            agent.put(record["value"], partition=record["partition"]), AGENT_TIMEOUT_S
        )

        def stored_stage() -> str | None:  # put() returns once the record entered the stream
            raw = worker.table.get(b"L-5")
            return decode_state(raw).stage if raw is not None else None

        await asyncio.wait_for(until(lambda: stored_stage() == "sqo"), AGENT_TIMEOUT_S)
        state = decode_state(worker.table.get(b"L-5"))
    changes = [value for _, value in outputs["stage_changes"].sent]
    assert [(c["from_stage"], c["to_stage"], c["sequence"]) for c in changes] == [
        ("lead", "sql", 1),
        ("sql", "sqo", 2),
    ]
    assert (state.stage, state.sequence) == ("sqo", 2)


async def test_qualify_stores_a_lead_state_again_when_a_duplicate_leaves_it_unchanged(
    worker: Worker, outputs: dict[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a kill the local store can be ahead of the changelog (a lost changelog write);
    the records that made that state come back as duplicates and must write it again."""
    writes: list[tuple[bytes, bytes]] = []
    on_key_set = worker.table.on_key_set  # faust's hook that writes the changelog

    def record_write(key: bytes, value: bytes) -> None:
        writes.append((key, value))
        on_key_set(key, value)

    monkeypatch.setattr(worker.table, "on_key_set", record_write)
    ebook = scenario("software-ebook-sql").for_lead("L-8").steps[1].value
    async with worker.ingest["website"].test_context() as agent:
        await asyncio.wait_for(agent.put(orjson.dumps(ebook)), AGENT_TIMEOUT_S)
    [(key, record)] = outputs["by_lead"].sent
    async with worker.qualify.test_context() as agent:
        for _ in range(2):  # the second delivery is a duplicate
            await asyncio.wait_for(agent.put(orjson.dumps(record), key=key), AGENT_TIMEOUT_S)
        await asyncio.wait_for(until(lambda: len(writes) == 2), AGENT_TIMEOUT_S)
    first, again = writes
    assert first == again
    assert first[0] == b"L-8"
    assert len(outputs["stage_changes"].sent) == 1


async def test_qualify_stores_nothing_for_a_tick_of_an_unknown_lead(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    ebook = scenario("software-ebook-sql").for_lead("L-6").steps[1].value
    async with worker.ingest["website"].test_context() as agent:
        await asyncio.wait_for(agent.put(orjson.dumps(ebook)), AGENT_TIMEOUT_S)
    [(key, record)] = outputs["by_lead"].sent
    async with worker.qualify.test_context() as agent:
        await asyncio.wait_for(
            agent.put(encode_tick(1_800_000_000_000), key=b"L-unknown"), AGENT_TIMEOUT_S
        )
        await asyncio.wait_for(agent.put(orjson.dumps(record), key=key), AGENT_TIMEOUT_S)
        # records are processed in order: once L-6 is stored, the tick has been processed
        await asyncio.wait_for(until(lambda: worker.table.get(b"L-6") is not None), AGENT_TIMEOUT_S)
        assert worker.table.get(b"L-unknown") is None
    assert len(outputs["stage_changes"].sent) == 1
