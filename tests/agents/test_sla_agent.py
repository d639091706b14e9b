"""The qualify agent and SLA events (test_context): timer ticks send leads.sla records with
CloudEvents headers, work stops the clock, and a failed send is sent again with its record."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from schemas.export import JSON_DIR
from schemas.outputs import SlaEvent
from streams.core.events import to_ms
from streams.settings import Settings
from streams.worker.app import Worker
from streams.worker.codec import decode_state
from streams.worker.timers import encode_tick
from streams.worker.wall_clock import wall_ms
from tests.support.agents import AGENT_TIMEOUT_S, Recorder, by_lead_bytes, ingest, recording_worker

pytestmark = pytest.mark.asyncio

SCHEMA = json.loads((JSON_DIR / "leads.sla.schema.json").read_text(encoding="utf-8"))
MINUTE_MS = 60_000


def make_worker(tmp_path: Path) -> tuple[Worker, dict[str, Recorder]]:
    """A worker on the startup preset: an SQL must be worked within 1 hour, with a warning
    15 minutes before (no business hours)."""
    return recording_worker(Settings(topic_prefix="agents.", data_dir=tmp_path, rules="startup"))


def contact_form(lead: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": f"{lead}-contact",
        "type": "form_submit",
        "lead_id": lead,
        "occurred_at": at.isoformat(),
        "properties": {"form": "contact"},
    }


def call(lead: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": f"{lead}-call",
        "type": "call_completed",
        "lead_id": lead,
        "occurred_at": at.isoformat(),
        "properties": {"direction": "outbound", "duration_s": 120, "outcome": "connected"},
    }


async def qualify_all(worker: Worker, outputs: dict[str, Recorder], start: int = 0) -> None:
    """Feed the by-lead records from `start` on to the qualify agent."""
    async with worker.qualify.test_context() as agent:
        for key, value in outputs["by_lead"].sent[start:]:
            await asyncio.wait_for(agent.put(by_lead_bytes(value), key=key), AGENT_TIMEOUT_S)


async def tick(worker: Worker, key: bytes, now_ms: int) -> None:
    async with worker.qualify.test_context() as agent:
        await asyncio.wait_for(agent.put(encode_tick(now_ms), key=key), AGENT_TIMEOUT_S)


async def test_ticks_send_the_warning_then_the_breach_with_cloudevents_headers(
    tmp_path: Path,
) -> None:
    worker, outputs = make_worker(tmp_path)
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    ingest(worker, outputs, "website", (None, orjson.dumps(contact_form("L-1", since))))
    await qualify_all(worker, outputs)
    state = decode_state(worker.table[b"L-1"])
    assert state.stage == "sql"
    assert state.sla is not None
    warning_ms = to_ms(since) + 45 * MINUTE_MS
    due_ms = to_ms(since) + 60 * MINUTE_MS
    # The timer's index has the lead due at the warning.
    assert worker.due.due == {b"L-1": warning_ms}

    before = wall_ms()
    await tick(worker, b"L-1", warning_ms)
    assert worker.due.due == {b"L-1": due_ms}
    await tick(worker, b"L-1", due_ms)

    records = outputs["sla"].sent
    assert [key for key, _ in records] == [b"L-1", b"L-1"]
    warning, breach = (value for _, value in records)
    for value in (warning, breach):
        SlaEvent.model_validate(value)
        jsonschema.validate(value, SCHEMA)
        assert value["lead_id"] == "L-1"
        assert value["stage"] == "sql"
        assert datetime.fromisoformat(value["stage_since"]) == since
        assert datetime.fromisoformat(value["due_at"]) == since + timedelta(hours=1)
        assert value["policy"] == {"within": "1h", "business_hours": None}
        assert to_ms(datetime.fromisoformat(value["emitted_at"])) >= before
    assert (warning["kind"], breach["kind"]) == ("warning", "breached")
    sequence = state.sequence
    assert warning["sla_event_id"] == f"L-1:{sequence}:warning"
    assert breach["sla_event_id"] == f"L-1:{sequence}:breached"

    for value, headers, came_due_ms in zip(
        (warning, breach), outputs["sla"].headers, (warning_ms, due_ms), strict=True
    ):
        assert headers is not None
        ce = dict(headers)
        assert ce["ce_specversion"] == b"1.0"
        assert ce["ce_id"] == value["sla_event_id"].encode()
        assert ce["ce_source"] == b"leadq/leadq"
        assert ce["ce_type"] == f"io.leadq.lead.sla_{value['kind']}.v1".encode()
        assert ce["ce_subject"] == b"L-1"
        assert to_ms(datetime.fromisoformat(ce["ce_time"].decode())) == came_due_ms
        assert ce["content-type"] == b"application/json"

    after = decode_state(worker.table[b"L-1"])
    assert after.sla is None
    assert (after.stage, after.sequence) == ("sql", sequence)
    # Nothing more for the SLA; what is left due is the preset's demotion.
    assert worker.due.due.get(b"L-1") == worker.qualifier.next_due_ms(after)
    await tick(worker, b"L-1", due_ms + 60 * MINUTE_MS)
    assert len(outputs["sla"].sent) == 2
    assert outputs["stage_changes"].sent[-1][1]["to_stage"] == "sql"


async def test_a_call_in_time_stops_the_clock(tmp_path: Path) -> None:
    worker, outputs = make_worker(tmp_path)
    since = datetime.now(UTC) - timedelta(minutes=1)
    ingest(worker, outputs, "website", (None, orjson.dumps(contact_form("L-2", since))))
    ingest(
        worker, outputs, "call", (None, orjson.dumps(call("L-2", since + timedelta(minutes=20))))
    )
    await qualify_all(worker, outputs)
    state = decode_state(worker.table[b"L-2"])
    assert (state.stage, state.sla) == ("sql", None)
    assert worker.due.due.get(b"L-2") == worker.qualifier.next_due_ms(state)  # the demotion's
    await tick(worker, b"L-2", to_ms(since) + 2 * 60 * MINUTE_MS)
    assert outputs["sla"].sent == []


class FailsOnce(Recorder):
    """A topic whose first send is not acknowledged (the broker refused it)."""

    async def send(
        self,
        *,
        key: bytes | None = None,
        value: bytes,
        partition: int | None = None,
        headers: Any = None,
    ) -> asyncio.Future[None]:
        sent = await super().send(key=key, value=value, partition=partition, headers=headers)
        if len(self.sent) > 1:
            return sent
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(ConnectionError("not acknowledged"))
        return failed


async def test_a_failed_sla_send_is_sent_again_before_the_state_is_stored(tmp_path: Path) -> None:
    worker, outputs = make_worker(tmp_path)
    flaky = FailsOnce()
    worker.agent.outputs.by_topic[worker.topics.sla] = flaky  # type: ignore[attr-defined]
    since = datetime.now(UTC) - timedelta(hours=3)  # a backlog: long due when it is seen
    ingest(worker, outputs, "website", (None, orjson.dumps(contact_form("L-3", since))))
    await qualify_all(worker, outputs)
    state = decode_state(worker.table[b"L-3"])
    assert state.sla is not None
    due_ms = to_ms(since) + 60 * MINUTE_MS
    assert worker.due.due == {b"L-3": due_ms}  # a backlog entry's breach is due at once
    await tick(worker, b"L-3", wall_ms())
    # Sent twice (the record is sent again whole), the same record both times.
    first, again = flaky.sent
    assert first == again
    assert first[1]["kind"] == "breached"  # a backlog entry never warns
    assert first[1]["sla_event_id"] == f"L-3:{state.sequence}:breached"
    assert flaky.headers[0] == flaky.headers[1]
    assert decode_state(worker.table[b"L-3"]).sla is None
