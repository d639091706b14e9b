"""The qualify agent with timer ticks, identity hand-overs and late events (test_context)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import orjson
import pytest

from streams.core.qualify import Qualifier
from streams.core.ruleset import preset_texts
from streams.settings import Settings
from streams.worker.app import Worker
from streams.worker.codec import decode_state
from streams.worker.timers import encode_tick, tick_records
from tests.support.agents import (
    AGENT_TIMEOUT_S,
    RecordedInputs,
    Recorder,
    by_lead_bytes,
    ingest,
    recording_worker,
)

pytestmark = pytest.mark.asyncio

T0 = "2026-03-02T09:00:00+00:00"


def web(event_id: str, type_: str, when: str = T0, **fields: Any) -> dict[str, Any]:
    props = fields.pop("properties", None)
    value: dict[str, Any] = {"event_id": event_id, "type": type_, "occurred_at": when, **fields}
    if props is not None:
        value["properties"] = props
    return value


def make_worker(tmp_path: Path, rules: str) -> tuple[Worker, dict[str, Recorder]]:
    return recording_worker(Settings(topic_prefix="agents.", data_dir=tmp_path, rules=rules))


def ingest_web(
    worker: Worker,
    outputs: dict[str, Recorder],
    values: list[dict[str, Any]],
    key: bytes | None = None,
) -> None:
    ingest(worker, outputs, "website", *[(key, orjson.dumps(value)) for value in values])


async def qualify_all(worker: Worker, outputs: dict[str, Recorder]) -> None:
    """Feed every by-lead record (and the hand-overs they cause) to the qualify agent."""
    done = 0
    async with worker.qualify.test_context() as agent:
        while done < len(outputs["by_lead"].sent):
            key, value = outputs["by_lead"].sent[done]
            done += 1
            await asyncio.wait_for(agent.put(by_lead_bytes(value), key=key), AGENT_TIMEOUT_S)


async def test_a_tick_demotes_a_lead_whose_engagement_decayed(tmp_path: Path) -> None:
    # startup without its SLA: only the demotion is time-driven here (test_sla_agent.py
    # has the SLA's ticks).
    rules = tmp_path / "startup-without-sla.toml"
    text, sla = preset_texts()["startup"].split("[sla.sql]")
    assert "\n[" not in sla  # the last table of the file
    rules.write_text(text)
    worker, outputs = make_worker(tmp_path, str(rules))
    contact = web("c1", "form_submit", lead_id="L-1", properties={"form": "contact"})
    webinar = web("w1", "webinar_registration", lead_id="L-1", properties={"webinar": "x"})
    ingest_web(worker, outputs, [contact, webinar])
    await qualify_all(worker, outputs)
    state = decode_state(worker.table[b"L-1"])
    assert state.stage == "sql"
    due = worker.qualifier.next_due_ms(state)
    assert due is not None
    assert worker.due.due == {b"L-1": due}
    # The timer sends a tick once its clock (event time by default) reaches the due time.
    ticks = Recorder()
    worker.due.next_scan = float("inf")  # no rebuild from the table here (see test_timers)

    async def send_ticks(now_ms: int, keys: list[bytes]) -> None:
        for record in tick_records(now_ms, keys, worker.settings.partitions):
            await ticks.send(**record)

    assert await worker.due.run_once(lambda: [], send_ticks) == 0
    worker.due.observe(due)
    assert await worker.due.run_once(lambda: [], send_ticks) == 1
    assert ticks.sent == [(None, {"tick": due, "keys": ["L-1"]})]
    async with worker.qualify.test_context() as agent:
        await asyncio.wait_for(agent.put(encode_tick(due, ["L-1"])), AGENT_TIMEOUT_S)
        # A tick for a lead with no state here does nothing (a record of one lead, keyed
        # by it, as leadq sent ticks before it batched them).
        await asyncio.wait_for(agent.put(encode_tick(due), key=b"L-none"), AGENT_TIMEOUT_S)
    changes = [c for _, c in outputs["stage_changes"].sent]
    assert [(c["from_stage"], c["to_stage"]) for c in changes] == [("lead", "sql"), ("sql", "lead")]
    assert changes[1]["trigger_event_id"] is None
    assert decode_state(worker.table[b"L-1"]).stage == "lead"
    assert b"L-none" not in worker.table
    assert worker.due.due == {}


def visitor_download_then_identify() -> list[dict[str, Any]]:
    """A visitor v-1 downloads an e-book, then is identified as lead L-2."""
    download = web(
        "a1",
        "content_download",
        anonymous_id="v-1",
        properties={"asset": "x.pdf", "asset_type": "ebook"},
    )
    return [download, web("i1", "identify", anonymous_id="v-1", lead_id="L-2")]


async def test_identify_hands_the_visitor_history_to_the_lead(tmp_path: Path) -> None:
    worker, outputs = make_worker(tmp_path, "default")
    ingest_web(worker, outputs, visitor_download_then_identify())
    rekeyed = len(outputs["by_lead"].sent)
    # Both are re-keyed to the visitor (records are batches of (key, event) pairs).
    keys = [key for _, batch in outputs["by_lead"].sent for key, _ in batch]
    assert keys == ["anon:v-1", "anon:v-1"]
    await qualify_all(worker, outputs)
    handed = outputs["by_lead"].sent[rekeyed:]
    assert [(k, e.event_id, e.merged_from) for k, [(_, e)] in handed] == [
        (b"L-2", "a1", "v-1"),
        (b"L-2", "i1", "v-1"),
    ]
    [(key, change)] = outputs["stage_changes"].sent
    assert key == b"L-2"
    assert change["to_stage"] == "sql"
    assert change["evidence"] == ["a1"]
    assert decode_state(worker.table[b"anon:v-1"]).linked_to == "L-2"


async def test_a_visitor_identified_as_two_leads_is_dead_lettered(tmp_path: Path) -> None:
    worker, outputs = make_worker(tmp_path, "default")
    first = web("i1", "identify", anonymous_id="v-9", lead_id="L-3")
    second = web("i2", "identify", anonymous_id="v-9", lead_id="L-4")
    ingest_web(worker, outputs, [first, second], key=b"tracker-v-9")
    await qualify_all(worker, outputs)
    [(key, dead)] = outputs["dead_letter"].sent
    # The dead letter is the input message as produced: its topic, offset, key and bytes.
    assert key == b"tracker-v-9"
    assert dead["key"] == "tracker-v-9"
    assert (dead["source_topic"], dead["offset"]) == (worker.topics.inputs["website"], 1)
    assert dead["value"] == orjson.dumps(second).decode()
    assert dead["error"]["code"] == "identity_conflict"
    assert "L-3" in dead["error"]["message"]
    assert "L-4" in dead["error"]["message"]
    assert decode_state(worker.table[b"anon:v-9"]).linked_to == "L-3"


async def test_a_too_late_event_is_dead_lettered_when_the_ruleset_says_so(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        preset_texts()["startup"].replace('late_events = "accept"', 'late_events = "dead_letter"')
    )
    worker, outputs = make_worker(tmp_path, str(rules))
    recent = web(
        "p2",
        "page_view",
        "2026-03-05T09:00:00+00:00",
        lead_id="L-5",
        properties={"url": "/pricing", "category": "pricing"},
    )
    old = web(
        "p1", "page_view", T0, lead_id="L-5", properties={"url": "/pricing", "category": "pricing"}
    )
    ingest_web(worker, outputs, [recent, old])
    await qualify_all(worker, outputs)
    [(key, dead)] = outputs["dead_letter"].sent
    assert key is None  # produced without a key
    assert dead["key"] is None
    assert (dead["source_topic"], dead["offset"]) == (worker.topics.inputs["website"], 1)
    assert dead["value"] == orjson.dumps(old).decode()
    assert dead["error"]["code"] == "too_late"
    assert set(decode_state(worker.table[b"L-5"]).seen) == {"p2"}


async def test_an_event_the_rules_fail_on_is_dead_lettered_as_produced(tmp_path: Path) -> None:
    worker, outputs = make_worker(tmp_path, "default")
    failing = create_autospec(Qualifier, spec_set=True, instance=True)
    failing.process.side_effect = RuntimeError("a bug in the rules")
    worker.agent.qualifier = failing
    download = web("d1", "content_download", lead_id="L-6", properties={"asset": "x.pdf"})
    ingest_web(worker, outputs, [download], key=b"L-6")
    await qualify_all(worker, outputs)
    [(key, dead)] = outputs["dead_letter"].sent
    assert key == b"L-6"
    assert dead["source_topic"] == worker.topics.inputs["website"]
    assert dead["value"] == orjson.dumps(download).decode()
    assert dead["error"]["code"] == "processing_error"
    assert "a bug in the rules" in dead["error"]["message"]


async def test_a_dead_letter_whose_input_message_is_gone_says_so(tmp_path: Path) -> None:
    worker, outputs = make_worker(tmp_path, "default")
    first = web("i1", "identify", anonymous_id="v-7", lead_id="L-7")
    second = web("i2", "identify", anonymous_id="v-7", lead_id="L-8")
    ingest_web(worker, outputs, [first, second])
    inputs = worker.agent.dead_letters.originals
    assert isinstance(inputs, RecordedInputs)
    inputs.messages.clear()  # as if retention had deleted the input messages
    await qualify_all(worker, outputs)
    [(_, dead)] = outputs["dead_letter"].sent
    assert dead["error"]["code"] == "identity_conflict"
    assert "could not be read back" in dead["error"]["message"]
    assert orjson.loads(dead["value"])["i"] == "i2"


async def test_a_worker_set_to_the_json_form_writes_records_earlier_releases_read(
    tmp_path: Path,
) -> None:
    """LEADQ_REKEY_FORMAT=json, for a rolling upgrade: re-keyed events and hand-overs."""
    settings = Settings(
        topic_prefix="agents.", data_dir=tmp_path, rules="default", rekey_format="json"
    )
    worker, outputs = recording_worker(settings)
    ingest_web(worker, outputs, visitor_download_then_identify())
    by_lead = outputs["by_lead"]
    async with worker.qualify.test_context() as agent:
        done = 0
        while done < len(by_lead.values):
            key, value = by_lead.sent[done][0], by_lead.values[done]
            done += 1
            await asyncio.wait_for(agent.put(value, key=key), AGENT_TIMEOUT_S)
    # as an earlier release reads them: lists of {"k": key, "e": event}
    read = [(item["k"], item["e"]["i"]) for v in by_lead.values for item in orjson.loads(v)]
    assert read == [("anon:v-1", "a1"), ("anon:v-1", "i1"), ("L-2", "a1"), ("L-2", "i1")]
    assert decode_state(worker.table[b"anon:v-1"]).linked_to == "L-2"


@pytest.mark.asyncio
async def test_the_timer_rescans_the_stored_states_once_a_rebalance_has_recovered_them(
    tmp_path: Path,
) -> None:
    worker, _ = make_worker(tmp_path, "startup")
    worker.due.next_scan = float("inf")  # a rescan came before the partitions were assigned
    await worker.app.on_rebalance_complete.send()
    assert worker.due.next_scan == 0.0  # the next round rescans
