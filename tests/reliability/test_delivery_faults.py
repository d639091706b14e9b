"""Alert delivery under faults: receivers that fail in five ways, and the alert service
killed again and again; every stage change and SLA event a destination matches arrives,
signed and in order (or, after a 410, is in the dead letter), nothing lost, nothing wrong."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import orjson
import pytest

from streams.settings import Settings
from streams.worker.topics import ALERTS_DEAD_LETTER
from tests.reliability.delivery import (
    STALL_TIMEOUT,
    Answers,
    DeliveryRun,
    GoneAfter,
    Hook,
    RateLimited,
    ServerErrors,
    Stalls,
    refuse_for_a_while,
)
from tests.reliability.delivery_judge import (
    Verdict,
    check_hits,
    figures,
    gone_figures,
    read_outputs,
    read_topic,
    recovery_after_outages,
)
from tests.reliability.harness import FULL, Figures, Workload

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

LEADS = 2000 if FULL else 300
EVENTS = 20_000 if FULL else 3_000
RATE = 1000.0 if FULL else 500.0
OUTAGES = 5 if FULL else 2
DOWN_S = 3.0 if FULL else 1.5
GONE_AFTER = 300 if FULL else 40
KILLS = 10 if FULL else 2
KILL_EVENTS = 20_000 if FULL else 2_000
# A restart after kill -9 joins the group once the dead member's session (10 s) is over.
KILL_CYCLE_S = 12.0


def assert_clean(fig: Figures) -> None:
    assert fig.lost == 0, fig.notes
    assert fig.wrong == 0, fig.notes


async def test_receivers_answering_500_timing_out_429_refusing_and_410(
    settings: Settings, tmp_path: Path, record_figures: list[Figures]
) -> None:
    errors = Hook("server-errors", ServerErrors(), stages=["sql", "sqo"])
    stalls = Hook(
        "stalls", Stalls(), sla=False, options={"timeout": STALL_TIMEOUT, "concurrency": 8}
    )
    limited = Hook("rate-limited", RateLimited(), stages=["sql", "disqualified"])
    refusing = Hook("refusing", Answers())
    gone = Hook("gone", GoneAfter(GONE_AFTER))
    hooks = [errors, stalls, limited, refusing, gone]
    work = Workload.simulated(LEADS, seed=505, events=EVENTS)
    run = DeliveryRun(settings, tmp_path / "run", hooks)
    async with run.running():
        feeding = asyncio.create_task(run.feed(work.events, RATE))
        outages = await refuse_for_a_while(refusing, OUTAGES, DOWN_S, random.Random(5), feeding)
        await run.finish(feeding.result())
        wall_offset = time.time() - asyncio.get_running_loop().time()
    outputs = await read_outputs(settings)
    letters = [orjson.loads(r.value) for r in await read_topic(settings, ALERTS_DEAD_LETTER)]
    events = len(work.events)

    def verdict(hook: Hook) -> Verdict:
        assert hook.receiver is not None
        matched = {wid: vs for wid, vs in outputs.items() if hook.wants(vs[0])}
        return check_hits(hook.secret, hook.receiver.hits, matched, wall_offset)

    limited_verdict = verdict(limited)
    assert isinstance(limited.script, RateLimited)
    for _ in limited.script.too_early():
        limited_verdict.fault("retried before the receiver's Retry-After")
    refusing_verdict = verdict(refusing)
    rows = [
        figures(
            "webhook 500/503",
            events,
            errors.script.faults,
            verdict(errors),
            errors.script.answered.longest_wait(),
        ),
        figures(
            "webhook timeouts",
            events,
            stalls.script.faults,
            verdict(stalls),
            stalls.script.answered.longest_wait(),
        ),
        figures(
            "webhook 429 + Retry-After",
            events,
            limited.script.faults,
            limited_verdict,
            limited.script.answered.longest_wait(),
        ),
        figures(
            "webhook refusing connections",
            events,
            outages,
            refusing_verdict,
            recovery_after_outages(
                refusing.outages, refusing_verdict.matched, refusing.script.answered
            ),
        ),
        gone_figures(
            "webhook 410 Gone",
            events,
            verdict(gone),
            [letter for letter in letters if letter["destination"] == gone.name],
            concurrency=4,  # the default
        ),
    ]
    record_figures.extend(rows)
    for fig in rows:
        assert_clean(fig)
        assert fig.duplicates == 0, fig.notes  # no crash, no repeats
        assert fig.faults > 0, f"{fig.scenario}: no fault happened"
        assert fig.expected > 0, f"{fig.scenario}: nothing to deliver"
    assert {letter["destination"] for letter in letters} == {gone.name}
    assert any(r.sla for vs in outputs.values() for r in vs), "no SLA event was written"


async def test_alert_service_killed_again_and_again(
    settings: Settings, tmp_path: Path, record_figures: list[Figures]
) -> None:
    crm = Hook("crm", Answers())
    work = Workload.simulated(LEADS, seed=606, events=KILL_EVENTS)
    run = DeliveryRun(settings, tmp_path / "run", [crm])
    # Paced so that the input lasts through the kills.
    rate = len(work.events) / (KILLS * KILL_CYCLE_S)
    async with run.running():
        feeding = asyncio.create_task(run.feed(work.events, rate))
        kills = await run.kill_alerts_again_and_again(KILLS, random.Random(9), feeding)
        await run.finish(feeding.result())
        wall_offset = time.time() - asyncio.get_running_loop().time()
    outputs = await read_outputs(settings)
    assert crm.receiver is not None
    matched = {wid: vs for wid, vs in outputs.items() if crm.wants(vs[0])}
    verdict = check_hits(crm.secret, crm.receiver.hits, matched, wall_offset)
    fig = figures("alerts kill -9", len(work.events), kills, verdict, max(run.restarts))
    fig.notes.append(
        f"{fig.duplicates} repeated deliveries after the kills, each with its record's"
        " webhook-id and body; restarts took " + ", ".join(f"{s:.1f}" for s in run.restarts) + " s"
    )
    record_figures.append(fig)
    assert kills == KILLS
    assert_clean(fig)
