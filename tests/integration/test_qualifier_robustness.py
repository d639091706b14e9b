"""Malformed input, two workers in one group, and a backlog read in arbitrary interleaving."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from streams.core.ruleset import load_ruleset
from streams.settings import Settings
from streams.tools.expected import final_stages, illegal_sequences, reference
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import SCENARIOS
from tests.support.kafka import collect, produce, running_workers
from tests.support.scenarios import scenario_messages
from tests.support.traffic import final_stages_of, sim_events, sim_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

MALFORMED: list[tuple[str, bytes | None, bytes | None, str]] = [
    ("leads.website", b"k1", b"{not json", "invalid_json"),
    ("leads.website", None, b"\xff\xfe\x00garbage", "invalid_utf8"),
    (
        "leads.email",
        b"k2",
        b'{"event_id":"m1","type":"email_opened","occurred_at":"2026-01-01T00:00:00Z"}',
        "missing_field",
    ),
    (
        "leads.call",
        b"k3",
        orjson.dumps(
            {
                "event_id": "m2",
                "lead_id": "x",
                "type": "call_completed",
                "occurred_at": "2026-01-01T00:00:00Z",
                "properties": {"direction": "inbound", "duration_s": "long", "outcome": "busy"},
            }
        ),
        "wrong_type",
    ),
    (
        "leads.email",
        None,
        b'{"event_id":"m3","lead_id":"x","type":"fax_sent","occurred_at":"2026-01-01T00:00:00Z"}',
        "unknown_type",
    ),
    ("leads.profile", b"k4", b"[1, 2, 3]", "not_an_object"),
    ("leads.call", b"k5", b"", "empty_value"),
]


def without_emitted_at(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "emitted_at"} for r in records]


async def test_malformed_messages_go_to_dead_letter_and_valid_ones_still_qualify(
    settings: Settings,
) -> None:
    scenarios = [s.for_lead(f"m-{s.name}") for s in SCENARIOS if s.preset == "default"]
    valid = scenario_messages(scenarios)
    expected = {s.steps[0].value["lead_id"]: list(s.expected) for s in scenarios}
    total = sum(len(v) for v in expected.values())
    async with running_workers(settings):
        # Malformed messages go first and between the valid ones, on every input topic.
        await produce(settings, [(t, k, v) for t, k, v, _ in MALFORMED])
        for i, message in enumerate(valid):
            await produce_in_order(settings, [message])
            bad = MALFORMED[i % len(MALFORMED)]
            await produce(settings, [(bad[0], bad[1], bad[2])])
        changes = await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= total)
        dead = await collect(
            settings,
            "leads.dead-letter",
            until=lambda r: len(r) >= len(MALFORMED) + len(valid),
            settle_s=1.0,
        )
    got: dict[str, list[tuple[str, str]]] = {}
    for c in changes:
        got.setdefault(c["lead_id"], []).append((c["from_stage"], c["to_stage"]))
    assert got == {k: v for k, v in expected.items() if v}
    assert len(dead) == len(MALFORMED) + len(valid)
    codes = {(d["source_topic"], d["error"]["code"]) for d in dead}
    assert codes == {(settings.topic(t), code) for t, _, _, code in MALFORMED}
    for d in dead:
        assert d["error"]["message"]
        assert isinstance(d["offset"], int)
        assert isinstance(d["partition"], int)
        assert d["received_at"]
    binary = [d for d in dead if d["error"]["code"] == "invalid_utf8"]
    assert binary
    assert all(d["value_encoding"] == "base64" for d in binary)


async def test_two_workers_in_one_group_emit_what_one_worker_emits(
    make_settings: Callable[..., Settings],
) -> None:
    events = sim_events(150, seed=11)
    messages = sim_messages(events)
    ref = reference(load_ruleset("default"), [(e.kind, e.value) for e in events])
    expected_total = sum(len(v) for v in ref.changes.values())
    want_final = {k: v for k, v in ref.final.items() if v != "lead"}
    results = []
    for workers, suffix in ((1, "one"), (2, "two")):
        settings = make_settings(topic_prefix=f"{make_settings().topic_prefix}{suffix}.")
        async with running_workers(settings, count=workers):
            await produce(settings, messages)
            records = await collect(
                settings,
                "leads.stage-changes",
                until=lambda r: final_stages(r) == want_final,
                settle_s=2.0,
            )
        results.append(records)
    one, two = results
    assert expected_total > 20, "the simulated traffic should qualify some leads"
    for records in (one, two):
        assert illegal_sequences(records) == []
        assert final_stages(records) == want_final
        assert len({r["change_id"] for r in records}) == len(records), "no duplicates"
    # Leads whose events all came through one topic are read in one order: identical output.
    single_topic = {
        lead
        for lead in ref.final
        if len({e.kind for e in events if e.value.get("lead_id") == lead}) == 1
    }

    def pick(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(
            without_emitted_at([r for r in records if r["lead_id"] in single_topic]),
            key=lambda r: r["change_id"],
        )

    assert pick(one) == pick(two)


async def test_backlog_read_after_the_fact_reaches_the_in_order_final_stages(
    settings: Settings,
) -> None:
    events = sim_events(300, seed=5)
    want_final = final_stages_of(events)
    # No worker runs while the backlog is produced: it then reads the three topics in
    # whatever interleaving the consumer fetches them.
    from streams.worker.topics import ensure_topics

    await ensure_topics(settings)
    await produce(settings, sim_messages(events))
    async with running_workers(settings):
        records = await collect(
            settings,
            "leads.stage-changes",
            until=lambda r: final_stages(r) == want_final,
            settle_s=2.0,
        )
    assert illegal_sequences(records) == []
    assert final_stages(records) == want_final
    assert len({r["change_id"] for r in records}) == len(records)
