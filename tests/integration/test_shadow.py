"""A worker with a shadow ruleset on the real broker: both topics, a restart, the report."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import pytest

from schemas.decode import TopicKind
from streams.core.events import StageChanged
from streams.core.ruleset import load_ruleset
from streams.settings import Settings
from streams.tools.expected import Reference, final_stages, illegal_sequences, reference
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import SCENARIOS
from streams.worker.codec import stage_change_dict
from streams.worker.launch import start_worker, worker_env
from streams.worker.shadow import shadow_change_id
from tests.integration.test_worker_restart import RESTARTED_TIMEOUT_S
from tests.support.kafka import collect, produce
from tests.support.scenarios import conflicting, scenario_messages
from tests.support.traffic import sim_events, sim_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

ACTIVE, SHADOW = "leads.stage-changes", "leads.shadow-stage-changes"
Messages = list[tuple[str, bytes | None, bytes]]


def content(change: StageChanged, shadow: bool) -> dict[str, Any]:
    """A reference change as the worker's record, emitted_at aside."""
    body = stage_change_dict(change, datetime.now(UTC))
    del body["emitted_at"]
    if shadow:
        body["change_id"] = shadow_change_id(change.lead_id, change.sequence)
    return body


def emitted(records: list[dict[str, Any]], leads: set[str]) -> dict[str, dict[str, Any]]:
    """The records of these leads by change_id, emitted_at aside."""
    return {
        r["change_id"]: {k: v for k, v in r.items() if k != "emitted_at"}
        for r in records
        if r["lead_id"] in leads
    }


def expected(ref: Reference, leads: set[str], shadow: bool) -> dict[str, dict[str, Any]]:
    return {
        body["change_id"]: body
        for lead in leads
        for body in (content(c, shadow) for c in ref.changes.get(lead, []))
    }


def finals(ref: Reference) -> dict[str, str]:
    """The final stage of every lead with at least one change."""
    return {lead: ref.final[lead] for lead, changes in ref.changes.items() if changes}


def split_scenarios() -> tuple[Messages, Messages, set[str]]:
    """Each article scenario's first half of steps, then the second halves."""
    scenarios = [s.for_lead(f"sh-{s.name}") for s in SCENARIOS]
    first: Messages = []
    second: Messages = []
    for s in scenarios:
        messages = scenario_messages([s])
        half = (len(messages) + 1) // 2
        first += messages[:half]
        second += messages[half:]
    return first, second, {f"sh-{s.name}" for s in SCENARIOS}


async def test_a_shadow_writes_its_own_topic_survives_a_kill_and_is_reported(
    make_settings: Callable[..., Settings],
) -> None:
    # Ticks are kept out (their time is the wall clock once the input is idle): both
    # rulesets' changes are then those of the events alone, as the reference computes them.
    settings = make_settings(rules="default", shadow_rules="startup", timer_interval_s=3600.0)
    first, second, scenario_leads = split_scenarios()
    sim = sim_messages(sim_events(150, seed=5))
    inputs: list[tuple[TopicKind, dict[str, object] | bytes]] = [
        (cast(TopicKind, topic.removeprefix("leads.")), value)
        for topic, _, value in [*first, *sim, *second]
    ]
    active_ref = reference(load_ruleset("default"), inputs)
    shadow_ref = reference(load_ruleset("startup"), inputs)
    active_want, shadow_want = finals(active_ref), finals(shadow_ref)
    assert active_want != shadow_want  # the two rulesets do disagree on this input

    worker = await start_worker(settings, data_dir=settings.data_dir / "w0")
    try:
        await produce_in_order(settings, first)
        await produce(settings, sim)
        # Killed while it works through the simulated traffic.
        await collect(settings, SHADOW, until=lambda r: len(r) >= 20)
    finally:
        await worker.stop(signal.SIGKILL)
    # A fresh local store: the restarted worker has only the changelogs to go on.
    worker = await start_worker(settings, data_dir=settings.data_dir / "w1")
    try:
        await produce_in_order(settings, second)
        active = await collect(
            settings,
            ACTIVE,
            until=lambda r: final_stages(r) == active_want,
            timeout=RESTARTED_TIMEOUT_S,
        )
        shadow = await collect(
            settings,
            SHADOW,
            until=lambda r: final_stages(r) == shadow_want,
            timeout=RESTARTED_TIMEOUT_S,
            settle_s=2.0,
        )
    finally:
        await worker.stop()
    assert "shadow ruleset" not in "\n".join(worker.lines)  # no shadow failure logged

    # The active ruleset's output is exactly the reference's, as without a shadow.
    assert emitted(active, scenario_leads) == expected(active_ref, scenario_leads, False)
    assert final_stages(active) == active_want
    # The shadow's: the startup ruleset's changes, under shadow ids, on its own topic.
    assert emitted(shadow, scenario_leads) == expected(shadow_ref, scenario_leads, True)
    assert final_stages(shadow) == shadow_want
    assert all(r["change_id"].endswith(":shadow") for r in shadow)
    assert {r["ruleset"]["name"] for r in shadow} == {"startup"}
    assert {r["ruleset"]["name"] for r in active} == {"default"}
    # The restart kept the shadow's state: sequences go on; what the kill made the worker
    # emit again has the same content under the same change_id.
    for records in (active, shadow):
        assert illegal_sequences(records) == []
        assert conflicting(records) == []

    # The report reads both topics to their end.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        "shadow",
        "report",
        "--json",
        "--list",
        "5",
        env=worker_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    report = orjson.loads(out)
    leads = active_want.keys() | shadow_want.keys()
    differ = sorted(
        lead for lead in leads if active_want.get(lead, "lead") != shadow_want.get(lead, "lead")
    )
    assert report["differences"]["count"] == len(differ)
    assert [d["lead_id"] for d in report["differences"]["leads"]] == differ[:5]
    assert report["active"]["reached"]["sql"] == len(
        {r["lead_id"] for r in active if r["to_stage"] == "sql"}
    )
    assert report["shadow"]["rulesets"] == [
        {"name": "startup", "version": shadow[0]["ruleset"]["version"]}
    ]
