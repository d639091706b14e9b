"""State survives a worker restart (recovered from the changelog); re-emissions are identical."""

from __future__ import annotations

import signal

import pytest

from streams.settings import Settings
from streams.tools.expected import final_stages, illegal_sequences
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import scenario
from streams.worker.launch import start_worker
from streams.worker.topics import TopicNames
from tests.support.kafka import ConditionNotMet, collect, produce
from tests.support.scenarios import collect_until_final, conflicting, scenario_messages
from tests.support.traffic import final_stages_of, sim_events, sim_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
# Restart after kill -9: the group first waits out the dead member (10 s), then the
# whole backlog is read again; a loaded CI machine needs more than the usual minute.
RESTARTED_TIMEOUT_S = 120.0


async def test_a_restarted_worker_continues_from_the_recovered_state(settings: Settings) -> None:
    messages = scenario_messages([scenario("software-demo-sqo").for_lead("restart-1")])
    worker = await start_worker(settings)
    try:
        await produce_in_order(settings, messages[:2])
        await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= 1)
        # Its state follows the stage change: stopped before it is stored, a worker
        # processes the records again after its restart and repeats the change (the same
        # change_id and content, see the kill -9 test below), which is not what this
        # test is about.
        changelog = TopicNames.of(settings).changelog.removeprefix(settings.topic_prefix)
        await collect(
            settings,
            changelog,
            until=lambda r: any(s["key"] == "restart-1" and len(s["seen"]) == 2 for s in r),
        )
    finally:
        await worker.stop()
    worker = await start_worker(settings)
    try:
        await produce_in_order(settings, messages[2:])
        records = await collect(
            settings, "leads.stage-changes", until=lambda r: len(r) >= 2, settle_s=1.0
        )
    finally:
        await worker.stop()
    assert [(r["sequence"], r["from_stage"], r["to_stage"]) for r in records] == [
        (1, "lead", "sql"),
        (2, "sql", "sqo"),
    ]


async def test_kill_minus_nine_mid_stream_loses_nothing_and_repeats_changes_identically(
    settings: Settings,
) -> None:
    events = sim_events(400, seed=21)
    want = final_stages_of(events)
    messages = sim_messages(events)
    half = len(messages) // 2
    worker = await start_worker(settings)
    await produce(settings, messages[:half])
    # Kill it while it works on the first half (some stage changes are out already).
    await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= 10)
    await worker.stop(signal.SIGKILL)
    await produce(settings, messages[half:])
    worker = await start_worker(settings)
    try:
        try:
            records = await collect_until_final(settings, want, RESTARTED_TIMEOUT_S)
        except ConditionNotMet:
            # What the restarted worker said, for the report (it should be working).
            print("restarted worker output:", *worker.lines[-80:], sep="\n")
            raise
    finally:
        await worker.stop()
    assert final_stages(records) == want
    assert illegal_sequences(records) == []
    assert conflicting(records) == []
