"""Entry point: `python -m bench [--events N] [--leads N] [--runs 3] [--quick] [--only ...]`."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.active_lead import (
    ACTIVE_EVENTS,
    QUICK_ACTIVE_EVENTS,
    ActiveLeadResult,
    run_active_lead,
)
from bench.baseline import BaselineResult, report_progress, run_baseline
from bench.broker import broker
from bench.common import BenchEnv, say, worker_overrides
from bench.delivery import DeliveryResult, run_delivery
from bench.latency import LatencyResult, run_latency
from bench.leadq_run import LeadqResult, run_leadq
from bench.machine import machine_info
from bench.preload import leads_for, preload, simulate
from bench.recovery import RecoveryResult, offline_states, run_recovery
from bench.report import (
    REPORT_JSON,
    RESULTS_MD,
    Figures,
    append_results,
    describe_hops,
    percentile,
    render_table,
    write_json,
)
from bench.warm import warm_broker, warm_moderate_load
from streams.core.qualify import ANONYMOUS_PREFIX

T = TypeVar("T")

# The size: >= 500,000 events over >= 50,000 leads (about 576,000 events).
FULL_LEADS = 50_000
# leadq's throughput runs read a smaller stream from the same simulator (the baseline reads
# it too, for the ratio), so that the whole run stays under 15 minutes on 2 cores.
SAMPLE_LEADS = 10_000
QUICK_EVENTS = 20_000
RECOVERY_LEADS = 1_000_000
QUICK_RECOVERY_LEADS = 100_000
LATENCY_S = 20.0
QUICK_LATENCY_S = 10.0
RATE = 2000.0
RATE_HIGH = 5000.0


@dataclass(frozen=True)
class Options:
    """What to measure, and how much of it."""

    events: int | None
    leads: int | None
    sample_leads: int | None  # leadq's (and the ratio's) stream; None: the full stream
    runs: int
    seed: int
    rate: float
    rate_high: float  # the second latency run's offered load
    latency_s: float
    recovery_leads: int
    active_events: int  # events of the one very active lead
    partitions: int
    quick: bool
    keep: bool
    record: bool
    profile: Path | None
    # "recovery", "latency" or "delivery": that alone (no table, nothing recorded)
    only: str | None = None

    @property
    def mode(self) -> str:
        """ "quick", "full" (the default sizes) or "custom"."""
        if self.quick:
            return "quick"
        default = (
            None,
            FULL_LEADS,
            SAMPLE_LEADS,
            RECOVERY_LEADS,
            LATENCY_S,
            3,
            RATE,
            RATE_HIGH,
            ACTIVE_EVENTS,
        )
        mine = (
            self.events,
            self.leads,
            self.sample_leads,
            self.recovery_leads,
            self.latency_s,
            self.runs,
            self.rate,
            self.rate_high,
            self.active_events,
        )
        return "full" if mine == default else "custom"


def parse(argv: list[str] | None = None) -> Options:
    """Command-line options; --quick changes the defaults of the sizes."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Throughput, latency, recovery and memory of leadq vs a plain aiokafka loop.",
    )
    parser.add_argument("--events", type=int, help="input events (default: all events of --leads)")
    parser.add_argument(
        "--leads",
        type=int,
        help=f"simulated leads (default {FULL_LEADS:,}, or as many as give --events)",
    )
    parser.add_argument(
        "--sample-leads",
        type=int,
        help=f"leads of the smaller stream that the throughput comparison (baseline and "
        f"leadq) reads (default {SAMPLE_LEADS:,}; 0: the full stream)",
    )
    parser.add_argument("--runs", type=int, default=3, help="throughput runs of each (median)")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument("--rate", type=float, default=RATE, help="offered load, events/s")
    parser.add_argument(
        "--rate-high",
        type=float,
        default=RATE_HIGH,
        help="offered load of the second latency run, events/s",
    )
    parser.add_argument("--latency-s", type=float, help="seconds of offered load")
    parser.add_argument("--recovery-leads", type=int, help="leads of state to restore")
    parser.add_argument(
        "--active-lead-events",
        type=int,
        help=f"events of the one very active lead (default {ACTIVE_EVENTS:,})",
    )
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"development sizes: {QUICK_EVENTS:,} events, {QUICK_RECOVERY_LEADS:,} leads "
        f"recovered, {QUICK_LATENCY_S:g}s of load, {QUICK_ACTIVE_EVENTS:,} events of the "
        "very active lead",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile an extra, uncounted leadq run with py-spy (.svg: flamegraph, else raw)",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="do not append to bench/RESULTS.md"
    )
    parser.add_argument(
        "--only",
        choices=["recovery", "latency", "delivery"],
        help="measure only this (recovery: its lead states come from replaying the simulated "
        "stream offline; latency: the two latency runs, at --rate and --rate-high for "
        "--latency-s, after warming the broker; delivery: the webhook delivery latency at "
        "--rate for --latency-s, after warming the broker); prints the figures, writes no "
        "table or JSON",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.active_lead_events is not None and args.active_lead_events < 1:
        parser.error("--active-lead-events must be at least 1")
    quick: bool = args.quick
    sized = args.events is not None or args.leads is not None
    sample: int | None = args.sample_leads
    if sample is None and not quick and not sized:
        sample = SAMPLE_LEADS
    return Options(
        events=args.events if sized or not quick else QUICK_EVENTS,
        leads=args.leads if sized or quick else FULL_LEADS,
        sample_leads=sample or None,
        runs=args.runs,
        seed=args.seed,
        rate=args.rate,
        rate_high=args.rate_high,
        latency_s=args.latency_s or (QUICK_LATENCY_S if quick else LATENCY_S),
        recovery_leads=args.recovery_leads or (QUICK_RECOVERY_LEADS if quick else RECOVERY_LEADS),
        active_events=args.active_lead_events or (QUICK_ACTIVE_EVENTS if quick else ACTIVE_EVENTS),
        partitions=args.partitions,
        quick=quick,
        keep=args.keep,
        record=not args.no_record,
        profile=args.profile,
        only=args.only,
    )


async def attempt(errors: dict[str, str], step: str, measurement: Awaitable[T]) -> T | None:
    """The measurement's result; if it fails, None, and why in `errors` (the table shows
    it in place of the figure; the other figures are kept)."""
    try:
        return await measurement
    except Exception as exc:
        errors[step] = f"{type(exc).__name__}: {exc}"
        say(f"{step} FAILED: {errors[step]}")
        return None


async def measure(env: BenchEnv, opts: Options, broker_kind: str, began: float) -> Figures:
    """Every measurement, in order: preload, throughput runs, latency at --rate and at
    --rate-high, delivery, recovery, the very active lead.

    The latency runs come after the throughput runs, which have loaded the broker, and
    after a latency run at --rate that is not counted: a broker's first load, and its first
    moderate load, are slower (see docs/performance.md)."""
    leads = opts.leads or leads_for(opts.events or 0)
    events = simulate(leads, opts.seed)
    if opts.events is not None:
        events = events[: opts.events]
    loaded = await preload(env.settings(), events, leads)
    del events
    sample = loaded
    if opts.sample_leads is not None and opts.sample_leads < leads:
        say(f"the throughput comparison reads a stream of {opts.sample_leads:,} leads")
        sample_events = simulate(opts.sample_leads, opts.seed)
        sample = await preload(env.settings("sample."), sample_events, opts.sample_leads)
        del sample_events
    full_baselines: list[BaselineResult] = []
    baselines: list[BaselineResult] = []
    leadqs: list[LeadqResult] = []
    for run in range(1, opts.runs + 1):  # interleaved, so drifting noise hits both alike
        if sample is not loaded:
            say(f"run {run}/{opts.runs}: baseline over the full stream")
            b = await run_baseline(loaded, f"full{run}", report_progress("baseline", loaded.events))
            say(f"baseline (full stream) run {run}: {b.events_per_s:,.0f} events/s")
            full_baselines.append(b)
        say(f"throughput run {run}/{opts.runs}: baseline")
        b = await run_baseline(sample, f"run{run}", report_progress("baseline", sample.events))
        say(f"baseline run {run}: {b.events_per_s:,.0f} events/s ({b.seconds:.1f}s)")
        baselines.append(b)
        say(f"throughput run {run}/{opts.runs}: leadq")
        q = await run_leadq(
            sample,
            f"run{run}",
            env.work_dir / f"leadq-run{run}",
            report_progress("leadq", sample.events),
        )
        say(
            f"leadq run {run}: {q.events_per_s:,.0f} events/s ({q.seconds:.1f}s, "
            f"{q.cpu_us_per_event or 0:,.0f} µs of worker CPU per event)"
        )
        leadqs.append(q)
    if opts.profile is not None:  # an extra run: sampling costs CPU, so it is not counted
        say("profiling run (not counted): leadq under py-spy")
        await run_leadq(
            sample,
            "profile",
            env.work_dir / "leadq-profile",
            report_progress("leadq (profiled)", sample.events),
            profile=opts.profile.resolve(),
        )
    expected: dict[str, str] = {
        k: s.stage
        for k, s in baselines[0].states.items()
        if s.stage != "lead" and not k.startswith(ANONYMOUS_PREFIX)
    }
    differ = set().union(*(_differing(expected, q.final_stages) for q in leadqs))
    explained = differ & sample.profiled
    errors: dict[str, str] = {}
    warm = await attempt(errors, "latency_warm", warm_moderate_load(env, opts.rate, opts.seed + 5))
    latency = await attempt(
        errors, "latency", measure_latency(env, "lat.", opts.rate, opts.latency_s, opts.seed + 1)
    )
    latency_high = await attempt(
        errors,
        "latency_high",
        measure_latency(env, "lat-high.", opts.rate_high, opts.latency_s, opts.seed + 3),
    )
    delivery = await attempt(errors, "delivery", measure_delivery(env, opts))
    recovery = await attempt(
        errors,
        "recovery",
        run_recovery(
            env.settings("rec."),
            (full_baselines or baselines)[0].states,
            opts.recovery_leads,
            env.work_dir / "recovery",
        ),
    )
    if recovery is not None:
        say(f"recovery: resumed after {recovery.resume_s:.1f}s, peak RSS {recovery.peak_rss_mb} MB")
    # Last: its state writes (hundreds of MB of changelog at 100,000 events) would load the
    # broker under the other measurements.
    active = await attempt(
        errors, "active_lead", run_active_lead(env, opts.active_events, opts.seed)
    )
    if active is not None:
        say(active.line())
    return Figures(
        machine=machine_info(broker_kind),
        mode=opts.mode,
        events=loaded.events,
        leads=loaded.leads,
        by_kind=loaded.by_kind,
        store=leadqs[0].store,
        partitions=opts.partitions,
        baseline_runs=[b.events_per_s for b in baselines],
        leadq_runs=[q.events_per_s for q in leadqs],
        baseline_cpu=[b.cpu_share for b in baselines],
        leadq_cpu=[q.cpu_share for q in leadqs],
        stage_changes_baseline=baselines[0].stage_changes,
        stage_changes_leadq=leadqs[0].stage_changes,
        final_stage_mismatches=len(differ - explained),
        final_stage_profile_order=len(explained),
        latency_rate=opts.rate,
        latency_events=latency.events if latency else 0,
        latency_ms=latency.samples_ms if latency else [],
        latency_processed_rate=latency.processed_rate if latency else 0.0,
        latency_wake_late_ms=latency.wake_late_ms if latency else [],
        latency_hops_ms=latency.hops_ms if latency else [],
        latency_warm_ms=warm.samples_ms if warm else [],
        delivery_ms=delivery.samples_ms if delivery else [],
        delivery_changes=delivery.changes if delivery else 0,
        recovery_leads=opts.recovery_leads,
        recovery_s=recovery.resume_s if recovery else None,
        recovery_ready_s=recovery.ready_s if recovery else None,
        recovery_changelog_mb=recovery.changelog_bytes / 1e6 if recovery else None,
        peak_rss_mb=recovery.peak_rss_mb if recovery else None,
        wall_s=time.monotonic() - began,
        sample_events=sample.events if sample is not loaded else None,
        sample_leads=sample.leads if sample is not loaded else None,
        sample_by_kind=sample.by_kind if sample is not loaded else None,
        baseline_full_runs=[b.events_per_s for b in full_baselines],
        baseline_full_cpu=[b.cpu_share for b in full_baselines],
        baseline_cpu_us=[b.cpu_us_per_event for b in baselines],
        leadq_cpu_us=[q.cpu_us_per_event for q in leadqs],
        worker_env=worker_overrides(dict(os.environ)),
        errors=errors,
        **_high_latency_figures(opts.rate_high, latency_high),
        **_active_lead_figures(active),
    )


def _high_latency_figures(rate: float, latency: LatencyResult | None) -> dict[str, Any]:
    """The Figures fields of the second latency run."""
    return {
        "latency_high_rate": rate,
        "latency_high_events": latency.events if latency else 0,
        "latency_high_ms": latency.samples_ms if latency else [],
        "latency_high_processed_rate": latency.processed_rate if latency else 0.0,
        "latency_high_wake_late_ms": latency.wake_late_ms if latency else [],
        "latency_high_hops_ms": latency.hops_ms if latency else [],
    }


def _active_lead_figures(active: ActiveLeadResult | None) -> dict[str, Any]:
    """The Figures fields of the very active lead's run."""
    if active is None:
        return {}
    return {
        "active_lead_events": active.run.events,
        "active_lead_rate": active.run.events_per_s,
        "active_lead_cpu_us": active.run.cpu_us_per_event,
        "active_lead_state_bytes": active.state_bytes,
        "active_lead_stage": active.stage,
    }


async def measure_latency(
    env: BenchEnv, suffix: str, rate: float, duration_s: float, seed: int
) -> LatencyResult:
    """A latency run at `rate` on a worker and topics of its own (settings `suffix`)."""
    latency = await run_latency(
        env.settings(suffix), rate, duration_s, seed, env.work_dir / suffix.strip(".-")
    )
    lat = latency.samples_ms
    say(
        f"latency at {rate:,.0f} events/s: {len(lat):,} samples, p50 "
        f"{percentile(lat, 0.5):,.0f} ms, p99 {percentile(lat, 0.99):,.0f} ms, worker "
        f"{'kept up' if latency.kept_up else 'did NOT keep up'} "
        f"({latency.processed_rate:,.0f} events/s processed); {describe_hops(latency.hops_ms)}"
    )
    return latency


async def measure_latency_alone(env: BenchEnv, opts: Options) -> None:
    """The two latency runs alone, on a warmed broker."""
    await warm_broker(env, opts.seed)
    await warm_moderate_load(env, opts.rate, opts.seed + 5)
    await measure_latency(env, "lat.", opts.rate, opts.latency_s, opts.seed + 1)
    await measure_latency(env, "lat-high.", opts.rate_high, opts.latency_s, opts.seed + 3)


async def measure_recovery(env: BenchEnv, opts: Options) -> RecoveryResult:
    """The recovery measurement alone, its lead states replayed offline from the simulator."""
    leads = opts.leads or leads_for(opts.events or 0)
    events = simulate(leads, opts.seed)
    if opts.events is not None:
        events = events[: opts.events]
    states = offline_states(events)
    del events
    say(f"replayed the stream offline: {len(states):,} lead states as templates")
    recovery = await run_recovery(
        env.settings("rec."), states, opts.recovery_leads, env.work_dir / "recovery"
    )
    say(
        f"recovery of {recovery.leads:,} leads (changelog {recovery.changelog_bytes / 1e6:,.0f} "
        f"MB): ready after {recovery.ready_s:.1f}s, resumed after {recovery.resume_s:.1f}s, "
        f"peak RSS {recovery.peak_rss_mb or 0:.0f} MB, worker CPU until ready "
        f"{recovery.ready_cpu_s or 0:.1f}s"
    )
    return recovery


async def measure_delivery(env: BenchEnv, opts: Options) -> DeliveryResult:
    """Webhook delivery latency at the latency run's load (its own worker and topics)."""
    if opts.only == "delivery":  # nothing has loaded the broker yet
        await warm_broker(env, opts.seed)
    delivery = await run_delivery(
        env.settings("dlv."), opts.rate, opts.latency_s, opts.seed + 2, env.work_dir / "delivery"
    )
    say(delivery.line())
    return delivery


def _differing(expected: dict[str, str], got: dict[str, str]) -> set[str]:
    """Leads whose final stage differs (a lead missing on one side counts)."""
    return {k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, record it; return the exit code."""
    opts = parse(argv)
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="leadq-bench-"))
    try:
        with broker(work / "broker") as (bootstrap, kind):
            env = BenchEnv(bootstrap, f"bench-{uuid.uuid4().hex[:8]}.", work, opts.partitions)
            if opts.only is not None:
                m = machine_info(kind)
                say(f"machine: {m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB, {m['os']}")
                alone = {
                    "recovery": measure_recovery,
                    "latency": measure_latency_alone,
                    "delivery": measure_delivery,
                }[opts.only]
                asyncio.run(alone(env, opts))
                say(f"done in {(time.monotonic() - began) / 60:.1f} min")
                return 0
            figures = asyncio.run(measure(env, opts, kind, began))
    finally:
        if opts.keep:
            say(f"scratch directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = render_table(figures)
    print(table, flush=True)
    write_json(figures)
    say(f"figures written to {REPORT_JSON}")
    if opts.record:
        append_results(table)
        say(f"table appended to {RESULTS_MD}")
    say(f"done in {(time.monotonic() - began) / 60:.1f} min")
    return 1 if figures.errors else 0


if __name__ == "__main__":
    sys.exit(main())
