"""Routing: reading stage changes and SLA events, the filters, the webhook body."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.alerts.config import Destination
from streams.alerts.routing import (
    AlertEvent,
    Source,
    Unreadable,
    matches,
    read_event,
    webhook_body,
)
from tests.support.alert_records import sla_event, stage_change


def event(value: dict[str, Any]) -> AlertEvent:
    source: Source = "sla" if "sla_event_id" in value else "stage_changes"
    return read_event(source, orjson.dumps(value))


def webhook(**options: Any) -> Destination:
    return Destination(name="crm", kind="webhook", url="https://x.test", secret_env="S", **options)


def test_a_stage_change_is_read() -> None:
    change = stage_change("ann", 2, "sql", "sqo", ruleset="startup")
    read = event(change)
    assert (read.type, read.webhook_id, read.lead_id, read.stage, read.ruleset) == (
        "lead.stage_changed",
        "ann:2",
        "ann",
        "sqo",
        "startup",
    )
    assert read.timestamp == change["occurred_at"]
    assert read.data == change
    assert not read.is_sla


@pytest.mark.parametrize("kind", ["warning", "breached"])
def test_an_sla_event_is_read(kind: str) -> None:
    sla = sla_event("ann", 1, kind)
    read = event(sla)
    assert (read.type, read.webhook_id, read.stage, read.ruleset) == (
        f"lead.sla_{kind}",
        f"ann:1:{kind}",
        "sql",
        None,
    )
    assert read.timestamp == sla["emitted_at"]
    assert read.is_sla


@pytest.mark.parametrize(
    ("source", "raw", "words"),
    [
        ("stage_changes", b"{oops", "not JSON"),
        ("stage_changes", b"[1]", "not a JSON object"),
        ("stage_changes", None, "not JSON"),
        ("stage_changes", b'{"change_id": "a:1"}', "lead_id: Field required"),
        ("sla", orjson.dumps({**sla_event("a", 1), "kind": "late"}), "kind: Input should be"),
    ],
)
def test_records_without_what_alerts_need_are_unreadable(
    source: Any, raw: bytes | None, words: str
) -> None:
    with pytest.raises(Unreadable, match=words):
        read_event(source, raw)


SQL = event(stage_change("ann", 1, "lead", "sql"))
SQO = event(stage_change("ann", 2, "sql", "sqo", ruleset="startup"))
WARNING = event(sla_event("ann", 1))


@pytest.mark.parametrize(
    ("options", "delivered"),
    [
        ({}, [SQL, SQO]),
        ({"stages": ["sqo"]}, [SQO]),
        ({"stages": []}, []),
        ({"sla": True}, [SQL, SQO, WARNING]),
        ({"sla": True, "stages": ["disqualified"]}, [WARNING]),
        ({"rulesets": ["default"]}, [SQL]),
        ({"rulesets": ["default"], "stages": ["sqo"]}, []),
        ({"rulesets": ["startup"], "sla": True}, [SQO, WARNING]),
    ],
)
def test_filters(options: dict[str, Any], delivered: list[AlertEvent]) -> None:
    destination = webhook(**options)
    assert [e for e in (SQL, SQO, WARNING) if matches(destination, e)] == delivered


def test_the_webhook_body_carries_the_record_unchanged() -> None:
    raw = b'{"change_id": "ann:1", "lead_id": "ann", "to_stage": "sql", "extra": [1, 2.50],\n'
    raw += b' "occurred_at": "2026-03-02T10:01:00Z", "ruleset": {"name": "d", "version": "1"}}'
    read = read_event("stage_changes", raw)
    body = webhook_body(read)
    assert body.endswith(b'"data":' + raw + b"}")  # byte for byte, 2.50 and all
    assert orjson.loads(body) == {
        "type": "lead.stage_changed",
        "timestamp": "2026-03-02T10:01:00Z",
        "data": orjson.loads(raw),
    }
    assert webhook_body(read_event("stage_changes", raw)) == body  # the same every time
