"""On the real broker: stage changes carry CloudEvents headers (binary mode), and
leads.lead-stages, compacted, holds each lead's current stage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.outputs import LeadStage
from streams.settings import Settings
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import SCENARIOS
from tests.support.kafka import collect, collect_records, running_workers
from tests.support.scenarios import scenario_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def test_stage_changes_are_cloudevents_and_lead_stages_hold_the_current_stage(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rules="default")
    scenarios = [s.for_lead(f"ce-{s.name}") for s in SCENARIOS if s.preset == "default"]
    total = sum(len(s.expected) for s in scenarios)
    async with running_workers(settings):
        await produce_in_order(settings, scenario_messages(scenarios))
        records = await collect_records(
            settings, "leads.stage-changes", until=lambda r: len(r) >= total
        )
        stages = await collect(settings, "leads.lead-stages", until=lambda r: len(r) >= total)
    latest: dict[str, dict[str, object]] = {}
    for record in records:
        change = orjson.loads(record.value)
        headers = dict(record.headers)
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_id"] == change["change_id"].encode()
        assert headers["ce_source"] == f"leadq/{settings.app_id}".encode()
        assert headers["ce_type"] == b"io.leadq.lead.stage_changed.v1"
        assert headers["ce_subject"] == change["lead_id"].encode()
        assert datetime.fromisoformat(headers["ce_time"].decode()) == datetime.fromisoformat(
            change["occurred_at"]
        )
        assert headers["content-type"] == b"application/json"
        if change["sequence"] > latest.get(change["lead_id"], {}).get("sequence", 0):
            latest[change["lead_id"]] = change
    current: dict[str, dict[str, object]] = {}
    for stage in stages:
        LeadStage.model_validate(stage)
        current[str(stage["lead_id"])] = stage  # a lead's records are in order
    assert {lead: (s["stage"], s["change_id"]) for lead, s in current.items()} == {
        lead: (c["to_stage"], c["change_id"]) for lead, c in latest.items()
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_list)
    await admin.start()
    try:
        [described] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.topic("leads.lead-stages"))]
        )
    finally:
        await admin.close()
    configs = {entry[0]: entry[1] for entry in described.resources[0][4]}
    assert configs["cleanup.policy"] == "compact"
