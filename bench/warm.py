"""Warm a broker that has carried no load yet, before a latency measurement on it."""

from __future__ import annotations

import time

from bench.baseline import run_baseline
from bench.common import BenchEnv, say
from bench.preload import leads_for, preload, simulate_events

# As much traffic as a quick run's throughput comparison reads (and the baseline's pass
# over it): produce, fetch, commit and compacted-topic writes, as the workers do.
WARM_EVENTS = 20_000


async def warm_broker(env: BenchEnv, seed: int, events: int = WARM_EVENTS) -> float:
    """Load `events` simulated events into topics of their own and let the baseline loop
    process them once; return the seconds it took.

    A freshly started broker's first load is its slowest (its JVM compiles the hot paths,
    its log segments and the offsets topic are new): a latency measured then says more
    about the broker's start than about leadq. In a whole `make bench` the throughput runs
    come first and do this; a measurement run alone (`--only delivery`) starts with it.
    """
    began = time.monotonic()
    say(f"warming the broker: {events:,} events through the baseline loop")
    stream = simulate_events(events, seed, "warm")
    loaded = await preload(env.settings("warm."), stream, leads_for(events))
    await run_baseline(loaded, "warm")
    seconds = time.monotonic() - began
    say(f"broker warmed in {seconds:.1f}s")
    return seconds
