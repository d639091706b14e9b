"""The benchmark's baseline loop on a small preloaded stream, its delivery latency
measurement on a short load, the very active lead's run and the broker's warm-ups,
against the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.active_lead import run_active_lead
from bench.baseline import BaselineTopics, run_baseline
from bench.common import BenchEnv, OffsetWatch, reached, total
from bench.delivery import run_delivery
from bench.preload import preload, simulate
from bench.recovery import offline_states
from bench.warm import warm_broker, warm_moderate_load
from streams.core.qualify import ANONYMOUS_PREFIX
from streams.core.ruleset import load_ruleset
from streams.settings import Settings
from streams.tools.expected import reference
from streams.tools.simulate.active import ACTIVE_LEAD_ID, active_lead
from streams.worker.codec import encode_state
from streams.worker.topics import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.asyncio, pytest.mark.timeout(60)]


async def test_the_baseline_processes_the_preload_like_the_reference(settings: Settings) -> None:
    events = simulate(150, seed=5)
    loaded = await preload(settings, events, 150)
    assert loaded.events == len(events) == total(loaded.ends)

    result = await run_baseline(loaded, "smoke")

    assert result.events == len(events)
    assert result.rejected == 0
    assert result.events_per_s > 0
    ref = reference(load_ruleset("default"), [(e.kind, e.value) for e in events])
    # A profile record counts from when it is processed, so those leads' outcome depends
    # on how the topics interleave; every other lead must end where the reference says.
    finals = {
        k: s.stage
        for k, s in result.states.items()
        if not k.startswith(ANONYMOUS_PREFIX) and s.stage != "lead" and k not in loaded.profiled
    }
    assert finals == {
        k: v for k, v in ref.final.items() if v != "lead" and k not in loaded.profiled
    }
    assert len(finals) > 10
    topics = BaselineTopics.of(settings, "smoke")
    async with OffsetWatch(settings) as watch:
        assert reached(await watch.committed(settings.topic("baseline-smoke")), loaded.ends)
        assert total(await watch.ends([topics.changelog])) == result.state_writes
        assert total(await watch.ends([topics.stage_changes])) == result.stage_changes
    assert result.stage_changes > 0


@pytest.mark.timeout(180)
async def test_every_stage_change_of_a_short_load_is_delivered_and_timed(
    settings: Settings, tmp_path: Path
) -> None:
    result = await run_delivery(settings, 100.0, 3.0, seed=5, data_dir=tmp_path / "delivery")
    assert 0 < result.events <= 300
    assert result.changes > 5
    assert result.undelivered == 0
    assert len(result.samples_ms) == result.changes
    assert all(ms >= 0 for ms in result.samples_ms)


def bench_env(settings: Settings, work_dir: Path) -> BenchEnv:
    return BenchEnv(
        settings.kafka_bootstrap_servers, settings.topic_prefix, work_dir, settings.partitions
    )


@pytest.mark.timeout(180)
async def test_the_very_active_leads_stored_state_is_the_cores(
    settings: Settings, tmp_path: Path
) -> None:
    result = await run_active_lead(bench_env(settings, tmp_path), 400, seed=3)
    assert result.run.events == 400
    assert (result.run.cpu_us_per_event or 0) > 0
    expected = offline_states(active_lead(400, seed=3))[ACTIVE_LEAD_ID]
    assert result.state_from == "changelog"
    assert result.state_bytes == len(encode_state(expected))
    assert result.stage == expected.stage == result.run.final_stages[ACTIVE_LEAD_ID]


async def test_warming_the_broker_sends_load_through_its_own_topics(
    settings: Settings, tmp_path: Path
) -> None:
    env = bench_env(settings, tmp_path)
    assert await warm_broker(env, seed=4, events=300) > 0
    warm = env.settings("warm.")
    async with OffsetWatch(warm) as watch:
        inputs = await watch.ends(warm.topic(f"leads.{kind}") for kind in ("website", "email"))
        assert total(inputs) > 0
        assert reached(await watch.committed(warm.topic("baseline-warm")), inputs)


@pytest.mark.timeout(180)
async def test_the_moderate_load_warm_up_is_a_latency_run_of_its_own(
    settings: Settings, tmp_path: Path
) -> None:
    env = bench_env(settings, tmp_path)
    result = await warm_moderate_load(env, rate=250.0, seed=4, seconds=2.0)
    assert result.events == 500
    assert result.samples_ms
    assert all(ms >= 0 for ms in result.samples_ms)
    warm = env.settings("lat-warm.")
    async with OffsetWatch(warm) as watch:
        changes = await watch.ends([TopicNames.of(warm).stage_changes])
        assert total(changes) >= len(result.samples_ms)
