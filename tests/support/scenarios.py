"""The article's scenarios as Kafka messages, and stage-change records grouped by lead."""

from __future__ import annotations

from typing import Any

import orjson

from streams.tools.scenarios import Scenario


def scenario_messages(scenarios: list[Scenario]) -> list[tuple[str, bytes | None, bytes]]:
    """Each scenario's steps for a unique lead id, keyed the way producers might."""
    out = []
    for s in scenarios:
        for step in s.steps:
            key = step.value["lead_id"].encode()
            out.append((f"leads.{step.kind}", key, orjson.dumps(step.value)))
    return out


def by_lead(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Output records grouped by their lead id, each lead's in the order given."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(r["lead_id"], []).append(r)
    return out
