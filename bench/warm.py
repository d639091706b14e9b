"""Warm a broker that has carried no load yet, before a latency measurement on it."""

from __future__ import annotations

import time

from bench.baseline import run_baseline
from bench.common import BenchEnv, say
from bench.latency import LatencyResult, run_latency
from bench.preload import leads_for, preload, simulate_events
from bench.report import percentile

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


# The unmeasured latency run's length: see warm_moderate_load.
LATENCY_WARM_S = 10.0


async def warm_moderate_load(
    env: BenchEnv, rate: float, seed: int, seconds: float = LATENCY_WARM_S
) -> LatencyResult:
    """Offer `rate` events/s for `seconds` to a worker and topics of their own, and return
    what that latency run measured; its figures are not counted.

    The first run at a moderate load on a broker is the slowest, even after warm_broker
    (p99 at 2,000 events/s: 35-70 ms in the first run of a series, 20-25 ms in most runs
    after it; docs/performance.md). Likely the broker's paths for small produce requests
    and waiting fetches are still cold: a throughput run's large requests always find data.
    """
    say(f"warming the broker at the latency runs' load: {rate:,.0f} events/s for {seconds:g}s")
    result = await run_latency(
        env.settings("lat-warm."), rate, seconds, seed, env.work_dir / "lat-warm"
    )
    say(
        f"warm-up run (not counted): p50 {percentile(result.samples_ms, 0.5):,.0f} ms, "
        f"p99 {percentile(result.samples_ms, 0.99):,.0f} ms"
    )
    return result
