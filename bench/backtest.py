"""Backtest speed: `python -m bench.backtest [--events 1000000] [--workers N]` prints the figure."""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from bench.common import say
from bench.preload import EVENTS_PER_LEAD
from streams.backtest.parallel import default_workers
from streams.backtest.run import run_backtest
from streams.tools.simulate.output import write_history, write_outcomes
from streams.tools.simulate.traffic import generate, simulated_outcomes

DEFAULT_EVENTS = 1_000_000


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its finished children (the workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    """Write a simulated history of N events and time `leadq backtest`'s work on it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--rules", default="default")
    args = parser.parse_args()
    leads = math.ceil(args.events / EVENTS_PER_LEAD * 1.05)
    with tempfile.TemporaryDirectory(prefix="leadq-bench-backtest-") as tmp:
        events_path, outcomes_path = Path(tmp, "events.jsonl"), Path(tmp, "outcomes.csv")
        say(f"simulating {leads:,} leads")
        history = generate(leads, seed=1)[: args.events]
        write_history(history, events_path)
        write_outcomes(simulated_outcomes(leads, seed=1), outcomes_path)
        size_mb = events_path.stat().st_size / 1e6
        del history
        workers = args.workers or default_workers(args.events)
        say(f"replaying {args.events:,} events ({size_mb:.0f} MB) with {workers} process(es)")
        cpu_before = _cpu_s()
        began = time.perf_counter()
        result = run_backtest(events_path, outcomes_path, [args.rules], workers=workers)
        total = time.perf_counter() - began
        cpu = _cpu_s() - cpu_before
    sql = result.reports[0].stages["sql"]
    print(
        f"backtest of {result.input.events:,} events ({result.input.leads:,} leads,"
        f" ruleset {args.rules}): {total:.1f} s total = read+validate+group"
        f" {result.read_s:.1f} s + replay {result.replay_s:.1f} s;"
        f" {result.input.events / total:,.0f} events/s; CPU {cpu:.1f} s"
        f" ({cpu / result.input.events * 1e6:.0f} µs/event); {workers} process(es) on"
        f" {os.cpu_count()} cores, Python {platform.python_version()};"
        f" load average {os.getloadavg()[0]:.1f}; sql leads {sql.leads:,}"
    )


if __name__ == "__main__":
    main()
