"""The article's scenarios through a real worker on the real broker, fields per contract."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from schemas.outputs import StageChange
from streams.settings import Settings
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import SCENARIOS
from tests.support.kafka import collect, running_workers
from tests.support.scenarios import by_lead, scenario_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

PRESETS_WITH_SCENARIOS = sorted({s.preset for s in SCENARIOS})


@pytest.mark.parametrize("preset", PRESETS_WITH_SCENARIOS)
async def test_article_scenarios_yield_exactly_the_expected_stage_changes(
    make_settings: Callable[..., Settings], preset: str
) -> None:
    settings = make_settings(rules=preset)
    scenarios = [s.for_lead(f"{preset}-{s.name}") for s in SCENARIOS if s.preset == preset]
    expected = {f"{preset}-{s.name}": list(s.expected) for s in scenarios}
    total = sum(len(v) for v in expected.values())
    async with running_workers(settings):
        await produce_in_order(settings, scenario_messages(scenarios))
        records = await collect(
            settings, "leads.stage-changes", until=lambda r: len(r) >= total, settle_s=2.0
        )
    got = by_lead(records)
    for lead_id, transitions in expected.items():
        changes = got.get(lead_id, [])
        assert [(c["from_stage"], c["to_stage"]) for c in changes] == transitions, lead_id
        assert [c["sequence"] for c in changes] == list(range(1, len(changes) + 1))
        for change in changes:
            StageChange.model_validate(change)  # every contract field, right types
            assert change["change_id"] == f"{lead_id}:{change['sequence']}"
            assert change["ruleset"]["name"] == preset
    assert len(records) == total


async def test_stage_changes_are_keyed_by_lead_id(settings: Settings) -> None:
    from aiokafka import AIOKafkaConsumer

    s = SCENARIOS[1].for_lead("keyed-lead")
    async with running_workers(settings):
        await produce_in_order(settings, scenario_messages([s]))
        await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= 2)
    consumer = AIOKafkaConsumer(
        settings.topic("leads.stage-changes"),
        bootstrap_servers=settings.bootstrap_list,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        batch = await asyncio.wait_for(consumer.getmany(timeout_ms=5000), 10)
    finally:
        await consumer.stop()
    keys = {m.key for messages in batch.values() for m in messages}
    partitions = {tp.partition for tp in batch}
    assert keys == {b"keyed-lead"}
    assert len(partitions) == 1
