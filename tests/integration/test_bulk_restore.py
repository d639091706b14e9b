"""A fresh worker restores its table from the changelog in bulk, then qualifies on from it."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from streams.settings import Settings
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import scenario
from streams.worker.faust_ext.bulk_restore import MIN_BACKLOG
from streams.worker.launch import start_worker
from streams.worker.topics import TopicNames
from tests.support.kafka import collect, produce
from tests.support.scenarios import by_lead, scenario_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CLONES = MIN_BACKLOG + 500  # enough records for the bulk path, few enough to stay quick
SUMMARY = re.compile(r"bulk restore: ([\d,]+) records of (\d+) changelog partitions")


def messages(lead_id: str) -> list[tuple[str, bytes | None, bytes]]:
    return scenario_messages([scenario("software-demo-sqo").for_lead(lead_id)])


def restored_by_bulk(lines: list[str]) -> int:
    """Records the worker's bulk restore reported (0 if it did not run)."""
    found = [SUMMARY.search(line) for line in lines]
    return sum(int(m.group(1).replace(",", "")) for m in found if m)


def changes(records: list[dict[str, Any]], lead_id: str) -> list[tuple[int, str, str]]:
    return [(r["sequence"], r["from_stage"], r["to_stage"]) for r in by_lead(records)[lead_id]]


async def test_a_fresh_worker_restores_in_bulk_and_qualifies_on(settings: Settings) -> None:
    kept, deleted = "bulk-kept", "bulk-deleted"
    first = await start_worker(settings, data_dir=settings.data_dir / "first")
    try:  # both leads become SQLs; their states go to the changelog
        await produce_in_order(settings, messages(kept)[:2] + messages(deleted)[:2])
        await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= 2)
    finally:
        await first.stop()
    changelog = TopicNames.of(settings).changelog.removeprefix(settings.topic_prefix)
    # The kept lead's state once it holds both events (an SQL since the first).
    states = await collect(
        settings,
        changelog,
        until=lambda r: any(s["key"] == kept and len(s["seen"]) == 2 for s in r),
    )
    state = orjson.dumps(next(s for s in states if s["key"] == kept and len(s["seen"]) == 2))
    # More leads in the kept lead's state (under their own ids), and the deleted lead's
    # tombstone, straight into the changelog.
    clones = [f"bulk-clone-{i:05d}" for i in range(CLONES)]
    await produce(
        settings,
        [(changelog, c.encode(), state.replace(kept.encode(), c.encode())) for c in clones]
        + [(changelog, deleted.encode(), None)],
    )

    fresh = await start_worker(settings, data_dir=settings.data_dir / "fresh", loglevel="info")
    try:
        restored = restored_by_bulk(fresh.lines)
        probe = clones[CLONES // 2]
        # Each lead's next events; the deleted lead's first events again.
        await produce_in_order(
            settings, messages(kept)[2:] + messages(probe)[2:] + messages(deleted)[:2]
        )
        try:
            records = await collect(
                settings, "leads.stage-changes", until=lambda r: len(r) >= 5, settle_s=1.0
            )
        except AssertionError:
            print("fresh worker output:", *fresh.lines[-80:], sep="\n")
            raise
    finally:
        await fresh.stop()
    assert restored >= CLONES + 3, fresh.lines[-40:]  # the first worker's states, clones, tombstone
    assert changes(records, kept) == [(1, "lead", "sql"), (2, "sql", "sqo")]
    assert changes(records, probe) == [(2, "sql", "sqo")]  # its restored state was SQL
    # Without its state, the deleted lead's repeated events count again, as new.
    assert changes(records, deleted) == [(1, "lead", "sql"), (1, "lead", "sql")]
