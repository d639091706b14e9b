"""The qualify agent with a shadow ruleset (test_context): its own topic, ids and state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.core.events import LeadEvent
from streams.core.qualify import Decision
from streams.core.state import LeadState
from streams.settings import Settings
from streams.tools.scenarios import scenario
from streams.worker.app import Worker
from streams.worker.codec import decode_state
from streams.worker.timers import Tick, encode_tick
from streams.worker.topics import LEAD_TABLE, SHADOW_TABLE
from tests.support.agents import AGENT_TIMEOUT_S, Recorder, by_lead_bytes, ingest, recording_worker

pytestmark = pytest.mark.asyncio

# (scenario, lead): under `default` and under `startup` these leads go different ways.
LEADS = [
    ("startup-pricing-question-sqo", "S-1"),  # default: nothing; startup: sql, sqo
    ("software-demo-sqo", "S-2"),  # both: sql, sqo
    ("software-newsletter-only", "S-3"),  # default: nothing; startup: sql
    ("startup-bad-timing", "S-4"),  # default: disqualified; startup: sql, disqualified
]


def make_worker(tmp_path: Path, shadow: str | None) -> tuple[Worker, dict[str, Recorder]]:
    settings = Settings(
        topic_prefix="agents.", data_dir=tmp_path, rules="default", shadow_rules=shadow
    )
    return recording_worker(settings)


async def qualify_all(worker: Worker, outputs: dict[str, Recorder], start: int = 0) -> None:
    """Feed every by-lead record from `start` on (and the hand-overs they cause) to the agent."""
    done = start
    async with worker.qualify.test_context() as agent:
        while done < len(outputs["by_lead"].sent):
            key, value = outputs["by_lead"].sent[done]
            done += 1
            await asyncio.wait_for(agent.put(by_lead_bytes(value), key=key), AGENT_TIMEOUT_S)


def feed_scenarios(worker: Worker, outputs: dict[str, Recorder]) -> None:
    for name, lead in LEADS:
        for step in scenario(name).for_lead(lead).steps:
            ingest(worker, outputs, step.kind, (None, orjson.dumps(step.value)))


def without_emitted_at(recorder: Recorder) -> list[tuple[bytes | None, dict[str, Any]]]:
    return [(k, {f: v for f, v in r.items() if f != "emitted_at"}) for k, r in recorder.sent]


async def test_shadow_changes_go_to_their_topic_and_the_active_ones_are_unchanged(
    tmp_path: Path,
) -> None:
    plain, plain_out = make_worker(tmp_path / "plain", None)
    feed_scenarios(plain, plain_out)
    await qualify_all(plain, plain_out)
    worker, outputs = make_worker(tmp_path / "shadow", "startup")
    feed_scenarios(worker, outputs)
    await qualify_all(worker, outputs)

    # The active ruleset's output, states, hand-overs and dead letters are as without shadow.
    assert without_emitted_at(outputs["stage_changes"]) == without_emitted_at(
        plain_out["stage_changes"]
    )
    assert outputs["by_lead"].sent == plain_out["by_lead"].sent
    assert outputs["dead_letter"].sent == plain_out["dead_letter"].sent == []
    for _, lead in LEADS:
        assert worker.table.get(lead.encode()) == plain.table.get(lead.encode())
    assert plain_out["shadow_stage_changes"].sent == []

    shadow = [change for _, change in outputs["shadow_stage_changes"].sent]
    assert {(c["lead_id"], c["sequence"], c["from_stage"], c["to_stage"]) for c in shadow} == {
        ("S-1", 1, "lead", "sql"),
        ("S-1", 2, "sql", "sqo"),
        ("S-2", 1, "lead", "sql"),
        ("S-2", 2, "sql", "sqo"),
        ("S-3", 1, "lead", "sql"),
        ("S-4", 1, "lead", "sql"),
        ("S-4", 2, "sql", "disqualified"),
    }
    for key, change in outputs["shadow_stage_changes"].sent:
        assert key == change["lead_id"].encode()
        assert change["change_id"] == f"{change['lead_id']}:{change['sequence']}:shadow"
        assert change["ruleset"]["name"] == "startup"
    active_ids = {c["change_id"] for _, c in outputs["stage_changes"].sent}
    assert active_ids.isdisjoint(c["change_id"] for c in shadow)
    assert all(c["ruleset"]["name"] == "default" for _, c in outputs["stage_changes"].sent)

    assert worker.shadow is not None
    shadow_states = {lead: decode_state(worker.shadow.table[lead.encode()]) for _, lead in LEADS}
    assert {lead: (s.stage, s.sequence) for lead, s in shadow_states.items()} == {
        "S-1": ("sqo", 2),
        "S-2": ("sqo", 2),
        "S-3": ("sql", 1),
        "S-4": ("disqualified", 2),
    }


async def test_without_a_shadow_there_is_no_second_table(tmp_path: Path) -> None:
    worker, _ = make_worker(tmp_path, None)
    assert worker.shadow is None
    assert worker.agent.shadow is None
    assert set(worker.app.tables.keys()) == {LEAD_TABLE}
    shadowed, _ = make_worker(tmp_path / "s", "startup")
    assert set(shadowed.app.tables.keys()) == {LEAD_TABLE, SHADOW_TABLE}


async def test_a_redelivered_record_repeats_nothing_in_the_shadow(tmp_path: Path) -> None:
    worker, outputs = make_worker(tmp_path, "startup")
    steps = scenario("startup-pricing-question-sqo").for_lead("S-5").steps
    for step in steps:
        ingest(worker, outputs, step.kind, (None, orjson.dumps(step.value)))
    await qualify_all(worker, outputs)
    first = len(outputs["shadow_stage_changes"].sent)
    assert first == 2
    # Every record again (as after a crash before the commit): nothing new anywhere.
    outputs["by_lead"].sent.extend(list(outputs["by_lead"].sent))
    await qualify_all(worker, outputs, start=len(outputs["by_lead"].sent) // 2)
    assert len(outputs["shadow_stage_changes"].sent) == first
    assert outputs["stage_changes"].sent == []
    assert worker.shadow is not None
    assert decode_state(worker.shadow.table[b"S-5"]).sequence == 2


async def test_a_tick_demotes_in_the_shadow_only(tmp_path: Path) -> None:
    """default has no demotion; the shadow's (startup's) timer index and ticks do it."""
    worker, outputs = make_worker(tmp_path, "startup")
    base = {"occurred_at": "2026-03-02T09:00:00+00:00", "lead_id": "S-6"}
    contact = {**base, "event_id": "c1", "type": "form_submit", "properties": {"form": "contact"}}
    webinar = {
        **base,
        "event_id": "w1",
        "type": "webinar_registration",
        "properties": {"webinar": "x"},
    }
    ingest(worker, outputs, "website", *[(None, orjson.dumps(v)) for v in (contact, webinar)])
    await qualify_all(worker, outputs)
    shadow = worker.shadow
    assert shadow is not None
    state = decode_state(shadow.table[b"S-6"])
    assert state.stage == "sql"
    due = shadow.qualifier.next_due_ms(state)
    assert due is not None
    assert shadow.due.due == {b"S-6": due}
    active_before = decode_state(worker.table[b"S-6"])
    async with worker.qualify.test_context() as agent:
        await asyncio.wait_for(agent.put(encode_tick(due), key=b"S-6"), AGENT_TIMEOUT_S)
    [*_, (key, demoted)] = outputs["shadow_stage_changes"].sent
    assert (key, demoted["from_stage"], demoted["to_stage"]) == (b"S-6", "sql", "lead")
    assert demoted["change_id"] == f"S-6:{state.sequence + 1}:shadow"
    assert decode_state(shadow.table[b"S-6"]).stage == "lead"
    active = decode_state(worker.table[b"S-6"])
    assert (active.stage, active.sequence) == (active_before.stage, active_before.sequence)
    assert all(c["to_stage"] != "lead" for _, c in outputs["stage_changes"].sent)
    # The tick applies what is due to both: the active ruleset's SLA (default's, 4 working
    # hours, long past) breaches; the shadow sends no SLA events, and keeps no SLA clock.
    assert [(k, r["sla_event_id"]) for k, r in outputs["sla"].sent] == [
        (b"S-6", f"S-6:{active.sequence}:breached")
    ]
    assert state.sla is None


async def test_a_shadow_failure_is_counted_not_dead_lettered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, outputs = make_worker(tmp_path, "startup")
    assert worker.shadow is not None

    def broken(state: LeadState, event: LeadEvent | Tick) -> Decision:
        raise RuntimeError("a bug in the shadow's rules")

    monkeypatch.setattr(worker.shadow.qualifier, "process", broken)
    for step in scenario("software-demo-sqo").for_lead("S-7").steps:
        ingest(worker, outputs, step.kind, (None, orjson.dumps(step.value)))
    await qualify_all(worker, outputs)
    assert len(outputs["stage_changes"].sent) == 2  # the active ruleset goes on as ever
    assert outputs["shadow_stage_changes"].sent == []
    assert outputs["dead_letter"].sent == []
    assert worker.shadow.rejected["processing_error"] == 3
    assert b"S-7" not in worker.shadow.table


async def test_a_visitors_history_reaches_the_shadow_through_the_active_hand_over(
    tmp_path: Path,
) -> None:
    worker, outputs = make_worker(tmp_path, "startup")
    base = {"occurred_at": "2026-03-02T09:00:00+00:00", "anonymous_id": "v-1"}
    download = {
        **base,
        "event_id": "a1",
        "type": "content_download",
        "properties": {"asset": "x.pdf", "asset_type": "ebook"},
    }
    identify = {**base, "event_id": "i1", "type": "identify", "lead_id": "S-8"}
    ingest(worker, outputs, "website", *[(None, orjson.dumps(v)) for v in (download, identify)])
    await qualify_all(worker, outputs)
    handed = [(k, e.event_id) for k, v in outputs["by_lead"].sent if k for _, e in v]
    assert handed == [(b"S-8", "a1"), (b"S-8", "i1")]  # once: the active ruleset's hand-over
    assert worker.shadow is not None
    assert b"anon:v-1" not in worker.shadow.table  # visitors are the active ruleset's
    assert set(decode_state(worker.shadow.table[b"S-8"]).seen) == {"a1", "i1"}
    [(_, change)] = outputs["shadow_stage_changes"].sent
    assert (change["to_stage"], change["evidence"]) == ("sql", ["a1"])
