"""The article's scenarios as Kafka messages; stage-change records grouped by lead, and
checked for a change_id emitted again with other content."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import orjson

from streams.settings import Settings
from streams.tools.expected import final_stages
from streams.tools.scenarios import Scenario
from tests.support.kafka import ConditionNotMet, collect


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


def conflicting(records: list[dict[str, Any]]) -> list[str]:
    """change_ids emitted more than once with different content (emitted_at aside)."""
    seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        seen[r["change_id"]].append({k: v for k, v in r.items() if k != "emitted_at"})
    return [cid for cid, versions in seen.items() if any(v != versions[0] for v in versions)]


async def collect_until_final(
    settings: Settings, want: Mapping[str, str], timeout: float
) -> list[dict[str, Any]]:
    """The stage changes, read until every lead of `want` is at its final stage (and 2 s
    more, to catch extra ones); on a timeout, prints the leads that are not first."""
    try:
        return await collect(
            settings,
            "leads.stage-changes",
            until=lambda r: final_stages(r) == want,
            timeout=timeout,
            settle_s=2.0,
        )
    except ConditionNotMet as failure:
        got = final_stages(failure.records)
        wrong = {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}
        print("leads not at their final stage (want, got):", wrong)
        print("conflicting change_ids:", conflicting(failure.records))
        raise
