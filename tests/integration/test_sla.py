"""On the real broker: a worker sends SLA warnings and breaches to leads.sla, with CloudEvents
headers, for an SQL nobody works; an SQL worked in time gets none."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from aiokafka import ConsumerRecord

from schemas.export import JSON_DIR
from streams.settings import Settings
from tests.support.kafka import collect, collect_records, produce, running_workers

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

TIMER_INTERVAL_S = 0.2
# After the last expected record: many timer rounds, in which a wrong SLA event (for the
# lead worked in time, due at the same instant) would have been sent.
SETTLE_S = 1.5

QUICK_SLA = """
name = "quick-sla"
version = "1"

[signals.interested]
description = "Interested on a call"
match = [{ type = "call_completed", disposition = "interested" }]

[stages.sql]
description = "Interested"
criteria = { signal = "interested" }

[stages.sqo]
description = "Interested a thousand times (never, here)"
criteria = { signal = "interested", min_count = 1000 }

[sla.sql]
within = "5s"
warn_before = "3s"
worked_by = ["meeting_held"]
"""


def interested(lead: str, at: datetime) -> tuple[str, bytes, bytes]:
    value: dict[str, Any] = {
        "event_id": f"{lead}-call",
        "type": "call_completed",
        "lead_id": lead,
        "occurred_at": at.isoformat(),
        "properties": {
            "direction": "inbound",
            "duration_s": 300,
            "outcome": "connected",
            "disposition": "interested",
        },
    }
    return ("leads.call", lead.encode(), orjson.dumps(value))


def meeting(lead: str, at: datetime) -> tuple[str, bytes, bytes]:
    value = {
        "event_id": f"{lead}-meeting",
        "type": "meeting_held",
        "lead_id": lead,
        "occurred_at": at.isoformat(),
        "properties": {"kind": "demo"},
    }
    # The same topic and key as the lead's call: read after it.
    return ("leads.call", lead.encode(), orjson.dumps(value))


def of_lead(records: list[ConsumerRecord[bytes, bytes]], lead: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records if r.key == lead.encode()]


async def test_an_sql_nobody_works_gets_a_warning_then_a_breach_and_a_worked_one_none(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    rules = tmp_path / "quick-sla.toml"
    rules.write_text(QUICK_SLA)
    settings = make_settings(
        rules=str(rules), timer_clock="wall", timer_interval_s=TIMER_INTERVAL_S
    )
    schema = json.loads((JSON_DIR / "leads.sla.schema.json").read_text(encoding="utf-8"))
    async with running_workers(settings):
        since = datetime.now(UTC).replace(microsecond=0)
        await produce(
            settings,
            [
                interested("ignored", since),
                interested("worked", since),
                meeting("worked", since + timedelta(milliseconds=500)),
            ],
        )
        changes = await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= 2)
        records = await collect_records(
            settings,
            "leads.sla",
            until=lambda r: len(of_lead(r, "ignored")) >= 2,
            settle_s=SETTLE_S,
        )
    assert sorted((c["lead_id"], c["to_stage"]) for c in changes) == [
        ("ignored", "sql"),
        ("worked", "sql"),
    ]
    assert of_lead(records, "worked") == []
    warning, breach = of_lead(records, "ignored")
    assert [warning["sla_event_id"], breach["sla_event_id"]] == [
        "ignored:1:warning",
        "ignored:1:breached",
    ]
    due = since + timedelta(seconds=5)
    for record, value in zip(records, (warning, breach), strict=True):
        jsonschema.validate(value, schema)
        assert value["stage"] == "sql"
        assert datetime.fromisoformat(value["stage_since"]) == since
        assert datetime.fromisoformat(value["due_at"]) == due
        assert value["policy"] == {"within": "5s", "business_hours": None}
        headers = dict(record.headers)
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_id"] == value["sla_event_id"].encode()
        assert headers["ce_source"] == f"leadq/{settings.app_id}".encode()
        assert headers["ce_type"] == f"io.leadq.lead.sla_{value['kind']}.v1".encode()
        assert headers["ce_subject"] == b"ignored"
        assert headers["content-type"] == b"application/json"
    warned_at = since + timedelta(seconds=2)
    assert datetime.fromisoformat(dict(records[0].headers)["ce_time"].decode()) == warned_at
    assert datetime.fromisoformat(dict(records[1].headers)["ce_time"].decode()) == due
    # Each sent by the timer once its instant had come (wall clock).
    assert datetime.fromisoformat(warning["emitted_at"]) >= warned_at
    assert datetime.fromisoformat(breach["emitted_at"]) >= due
