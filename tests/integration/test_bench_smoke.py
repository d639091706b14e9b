"""The benchmark's baseline loop on a small preloaded stream, against the real broker."""

from __future__ import annotations

import pytest

from bench.baseline import BaselineTopics, run_baseline
from bench.common import OffsetWatch, reached, total
from bench.preload import preload, simulate
from streams.core.qualify import ANONYMOUS_PREFIX
from streams.core.ruleset import load_ruleset
from streams.settings import Settings
from streams.tools.expected import reference

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
