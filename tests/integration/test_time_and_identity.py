"""On the real broker: a timer demotes a lead whose engagement decayed; a visitor's history
reaches its lead across two workers; a visitor identified as two leads is dead-lettered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import murmur2

from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.settings import Settings
from streams.tools.expected import illegal_sequences, valid_events
from streams.worker.codec import stage_change_dict
from tests.support.kafka import collect, produce, running_workers

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

PARTITIONS = 4
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def event(event_id: str, type_: str, hours: float, **fields: Any) -> dict[str, Any]:
    props = fields.pop("properties", None)
    value: dict[str, Any] = {
        "event_id": event_id,
        "type": type_,
        "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
        **fields,
    }
    if props is not None:
        value["properties"] = props
    return value


def website(value: dict[str, Any]) -> tuple[str, bytes | None, bytes]:
    """Keyed as trackers do (by lead, else visitor), so one key's events keep their order:
    unkeyed, two events of one lead could be read in either order."""
    key = str(value.get("lead_id") or value["anonymous_id"])
    return ("leads.website", key.encode(), orjson.dumps(value))


def without_emitted_at(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "emitted_at"}


async def test_a_timer_demotes_a_lead_at_the_event_time_its_engagement_decayed(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rules="startup", timer_interval_s=0.2, partitions=PARTITIONS)
    cooling = [
        event("c1", "form_submit", 0, lead_id="cool", properties={"form": "contact"}),
        event("w1", "webinar_registration", 1, lead_id="cool", properties={"webinar": "x"}),
    ]
    # Another lead's event, a month later, moves the worker's event clock on.
    later = event("n1", "newsletter_signup", 24 * 30, lead_id="other")
    qualifier = Qualifier(load_ruleset("startup"))
    events, _ = valid_events([("website", v) for v in cooling])
    state, expected = qualifier.fold(events, "cool")
    # What the timer's ticks do to the lead, each at the time it is next due: the SLA's
    # breach (startup's 1 hour, long past), then the demotion.
    while (due := qualifier.next_due_ms(state)) is not None:
        decision = qualifier.tick(state, due)
        state = decision.state
        expected += decision.changes
    assert [c.to_stage for c in expected] == ["sql", "lead"]
    async with running_workers(settings):
        await produce(settings, [website(v) for v in [*cooling, later]])
        records = await collect(
            settings,
            "leads.stage-changes",
            until=lambda r: len([c for c in r if c["lead_id"] == "cool"]) >= 2,
        )
    got = [without_emitted_at(r) for r in records if r["lead_id"] == "cool"]
    want = [without_emitted_at(stage_change_dict(c, T0)) for c in expected]
    assert got == want
    assert got[1]["from_stage"] == "sql"
    assert got[1]["to_stage"] == "lead"
    assert got[1]["trigger_event_id"] is None
    assert datetime.fromisoformat(got[1]["occurred_at"]) < T0 + timedelta(days=30)
    assert illegal_sequences(records) == []


def partition_of(key: str) -> int:
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


def pairs_on_every_partition_pair() -> list[tuple[str, str]]:
    """(visitor, lead) ids whose keys fall in every ordered pair of distinct partitions,
    so that some hand-overs cross from one worker to the other whatever the assignment."""
    wanted = {(a, b) for a in range(PARTITIONS) for b in range(PARTITIONS) if a != b}
    found: dict[tuple[int, int], tuple[str, str]] = {}
    n = 0
    while len(found) < len(wanted):
        visitor, lead = f"v-{n}", f"lead-{n}"
        pair = (partition_of(f"anon:{visitor}"), partition_of(lead))
        if pair in wanted and pair not in found:
            found[pair] = (visitor, lead)
        n += 1
    return sorted(found.values())


async def test_a_visitor_history_counts_for_its_lead_across_two_workers(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rules="default", partitions=PARTITIONS)
    pairs = pairs_on_every_partition_pair()
    messages = []
    for i, (visitor, lead) in enumerate(pairs):
        download = event(
            f"{visitor}-d",
            "content_download",
            0,
            anonymous_id=visitor,
            properties={"asset": "guide.pdf", "asset_type": "ebook"},
        )
        identify = event(f"{visitor}-i", "identify", 1, anonymous_id=visitor, lead_id=lead)
        # Identify after the anonymous download for half the visitors, before it for the rest.
        messages += [download, identify] if i % 2 else [identify, download]
    conflict = event(f"{pairs[0][0]}-i2", "identify", 2, anonymous_id=pairs[0][0], lead_id="x")
    async with running_workers(settings, count=2):
        await produce(settings, [website(v) for v in messages])
        # The conflicting identify is keyed by its own lead, so it lands in another input
        # partition than the first identify and could be read first. The first link is the
        # one processed first: send the conflict once every lead has qualified.
        await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= len(pairs))
        await produce(settings, [website(conflict)])
        dead = await collect(settings, "leads.dead-letter", until=lambda r: len(r) >= 1)
        records = await collect(
            settings, "leads.stage-changes", until=lambda r: len(r) >= len(pairs), settle_s=1.0
        )
    by_lead = {r["lead_id"]: r for r in records}
    assert sorted(by_lead) == sorted(lead for _, lead in pairs)
    for visitor, lead in pairs:
        change = by_lead[lead]
        assert (change["from_stage"], change["to_stage"]) == ("lead", "sql")
        assert change["evidence"] == [f"{visitor}-d"]
    assert len(records) == len(pairs)
    [letter] = dead
    assert letter["error"]["code"] == "identity_conflict"
    assert letter["value"] == orjson.dumps(conflict).decode()  # as produced
    assert letter["source_topic"] == settings.topic("leads.website")
