"""A rolling upgrade of the events-by-lead form: workers writing JSON records and workers
writing compact ones share a deployment, and every lead still ends where it should."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from streams.settings import Settings
from streams.tools.expected import final_stages, illegal_sequences
from streams.worker.launch import WorkerProcess, output_tail, start_worker
from streams.worker.rekey_format import is_compact
from streams.worker.topics import TopicNames
from tests.support.kafka import collect, collect_records, produce
from tests.support.scenarios import collect_until_final, conflicting
from tests.support.traffic import final_stages_of, sim_events, sim_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
# Two rebalances (a worker joins, a worker leaves) on a loaded CI machine.
UPGRADE_TIMEOUT_S = 120.0


@contextmanager
def shown_on_failure(*workers: WorkerProcess) -> Iterator[None]:
    """Print the workers' last output lines if the block fails."""
    try:
        yield
    except BaseException:
        for worker in workers:
            print(output_tail(worker, 60))
        raise


async def test_json_and_compact_workers_share_a_deployment_during_an_upgrade(
    settings: Settings,
) -> None:
    events = sim_events(300, seed=33)
    want = final_stages_of(events)
    messages = sim_messages(events)
    third = len(messages) // 3
    json_settings = settings.model_copy(update={"rekey_format": "json"})
    # The deployment before the upgrade: a worker writing the earlier JSON records.
    earlier = await start_worker(json_settings, data_dir=settings.data_dir / "earlier")
    upgraded: WorkerProcess | None = None
    try:
        with shown_on_failure(earlier):
            await produce(settings, messages[:third])
            await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= 5)
        # An upgraded worker joins: the two share the partitions, each writing its form
        # into partitions the other reads.
        upgraded = await start_worker(settings, data_dir=settings.data_dir / "upgraded")
        with shown_on_failure(earlier, upgraded):
            await produce(settings, messages[third : 2 * third])
        # The earlier worker leaves; the upgraded one reads what it left, of both forms.
        await earlier.stop()
        with shown_on_failure(upgraded):
            await produce(settings, messages[2 * third :])
            records = await collect_until_final(settings, want, UPGRADE_TIMEOUT_S)
    finally:
        await earlier.stop()
        if upgraded is not None:
            await upgraded.stop()
    assert final_stages(records) == want
    assert illegal_sequences(records) == []
    assert conflicting(records) == []
    by_lead = TopicNames.of(settings).events_by_lead.removeprefix(settings.topic_prefix)
    written = await collect_records(settings, by_lead, until=lambda r: len(r) > 0, settle_s=1.0)
    # Event records of both forms (timer ticks, JSON in both releases, left aside).
    compact = [r for r in written if r.value and is_compact(r.value)]
    json_events = [r for r in written if r.value and r.value.startswith(b"[")]
    assert compact
    assert json_events
