"""The agents in isolation with faust's test_context: decode, core, table, send."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pytest

from schemas.decode import Rejection, decode
from schemas.outputs import LeadStage
from streams.settings import Settings
from streams.tools.scenarios import scenario
from streams.worker.app import Worker
from streams.worker.batching import RekeyBuffer
from streams.worker.codec import decode_state, rekeyed_item, to_lead_event
from streams.worker.timers import encode_tick
from tests.support.agents import AGENT_TIMEOUT_S, Recorder, by_lead_bytes, ingest, recording_worker

pytestmark = pytest.mark.asyncio


async def until(condition: Callable[[], bool]) -> None:
    """Return once the condition holds (bound it with asyncio.wait_for)."""
    while True:
        if condition():
            return
        await asyncio.sleep(0.01)


@pytest.fixture
def recording(tmp_path: Any) -> tuple[Worker, dict[str, Recorder]]:
    return recording_worker(Settings(topic_prefix="agents.", data_dir=tmp_path, rules="default"))


@pytest.fixture
def worker(recording: tuple[Worker, dict[str, Recorder]]) -> Worker:
    return recording[0]


@pytest.fixture
def outputs(recording: tuple[Worker, dict[str, Recorder]]) -> dict[str, Recorder]:
    return recording[1]


async def test_qualify_sends_changes_and_stores_state_and_ignores_duplicates(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    steps = scenario("software-demo-sqo").for_lead("L-9").steps
    ingest(worker, outputs, "website", *[(None, orjson.dumps(step.value)) for step in steps[:2]])
    ingest(worker, outputs, "call", (None, orjson.dumps(steps[2].value)))
    rekeyed = outputs["by_lead"].sent
    async with worker.qualify.test_context() as agent:
        for key, value in [*rekeyed, rekeyed[0]]:  # the first event is delivered twice
            await asyncio.wait_for(agent.put(by_lead_bytes(value), key=key), AGENT_TIMEOUT_S)
        state = decode_state(worker.table.get(b"L-9"))
    changes = [value for _, value in outputs["stage_changes"].sent]
    assert [(c["from_stage"], c["to_stage"], c["sequence"]) for c in changes] == [
        ("lead", "sql", 1),
        ("sql", "sqo", 2),
    ]
    assert {k for k, _ in outputs["stage_changes"].sent} == {b"L-9"}
    # Each change goes with CloudEvents headers, and with the lead's current stage.
    for change, headers in zip(changes, outputs["stage_changes"].headers, strict=True):
        assert headers is not None
        ce = dict(headers)
        assert ce["ce_specversion"] == b"1.0"
        assert ce["ce_id"] == change["change_id"].encode()
        assert ce["ce_source"] == b"leadq/leadq"
        assert ce["ce_type"] == b"io.leadq.lead.stage_changed.v1"
        assert ce["ce_subject"] == b"L-9"
        assert datetime.fromisoformat(ce["ce_time"].decode()) == datetime.fromisoformat(
            change["occurred_at"]
        )
        assert ce["content-type"] == b"application/json"
    current = [value for _, value in outputs["lead_stages"].sent]
    assert [(c["lead_id"], c["stage"], c["sequence"], c["change_id"]) for c in current] == [
        ("L-9", "sql", 1, "L-9:1"),
        ("L-9", "sqo", 2, "L-9:2"),
    ]
    for stage, change in zip(current, changes, strict=True):
        LeadStage.model_validate(stage)
        assert stage["since"] == change["occurred_at"]
        assert stage["scores"] == change["scores"]
        assert stage["ruleset"] == change["ruleset"]
    assert {k for k, _ in outputs["lead_stages"].sent} == {b"L-9"}
    assert state is not None
    assert state.stage == "sqo"
    assert state.sequence == 2


async def test_profile_update_affects_fit_for_later_events(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    profile = {"lead_id": "L-3", "updated_at": "2026-03-01T00:00:00Z", "seniority": "vp"}
    ingest(worker, outputs, "profile", (b"L-3", orjson.dumps(profile)))
    ebook = scenario("software-ebook-sql").for_lead("L-3").steps[1].value
    ingest(worker, outputs, "website", (None, orjson.dumps(ebook)))
    async with worker.qualify.test_context() as agent:
        for key, value in outputs["by_lead"].sent:
            await asyncio.wait_for(agent.put(by_lead_bytes(value), key=key), AGENT_TIMEOUT_S)
    [(_, change)] = outputs["stage_changes"].sent
    assert change["scores"]["fit"] == 20


async def test_qualify_applies_the_events_of_one_record_in_order(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    steps = scenario("software-demo-sqo").for_lead("L-5").steps
    buffer = RekeyBuffer(worker.settings.partitions)
    for step in [*steps, steps[0]]:  # the first event twice: no further effect
        decoded = decode(step.kind, orjson.dumps(step.value))
        assert not isinstance(decoded, Rejection)
        assert buffer.add("L-5", rekeyed_item("L-5", to_lead_event(decoded))) == []
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
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    """After a kill the local store can be ahead of the changelog (a lost changelog write);
    the records that made that state come back as duplicates and must write it again."""

    def writes() -> list[tuple[bytes | None, Any]]:
        return outputs["changelog"].sent

    ebook = scenario("software-ebook-sql").for_lead("L-8").steps[1].value
    ingest(worker, outputs, "website", (None, orjson.dumps(ebook)))
    [(key, record)] = outputs["by_lead"].sent
    async with worker.qualify.test_context() as agent:
        for _ in range(2):  # the second delivery is a duplicate
            await asyncio.wait_for(agent.put(by_lead_bytes(record), key=key), AGENT_TIMEOUT_S)
        await asyncio.wait_for(until(lambda: len(writes()) == 2), AGENT_TIMEOUT_S)
    first, again = writes()
    assert first == again
    assert first[0] == b"L-8"
    assert len(outputs["stage_changes"].sent) == 1


async def test_qualify_stores_nothing_for_a_tick_of_an_unknown_lead(
    worker: Worker, outputs: dict[str, Recorder]
) -> None:
    ebook = scenario("software-ebook-sql").for_lead("L-6").steps[1].value
    ingest(worker, outputs, "website", (None, orjson.dumps(ebook)))
    [(key, record)] = outputs["by_lead"].sent
    async with worker.qualify.test_context() as agent:
        await asyncio.wait_for(
            agent.put(encode_tick(1_800_000_000_000), key=b"L-unknown"), AGENT_TIMEOUT_S
        )
        await asyncio.wait_for(agent.put(by_lead_bytes(record), key=key), AGENT_TIMEOUT_S)
        # records are processed in order: once L-6 is stored, the tick has been processed
        await asyncio.wait_for(until(lambda: worker.table.get(b"L-6") is not None), AGENT_TIMEOUT_S)
        assert worker.table.get(b"L-unknown") is None
    assert len(outputs["stage_changes"].sent) == 1
