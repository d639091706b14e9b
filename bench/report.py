"""The benchmark's figures: percentiles, the table, bench/RESULTS.md and reports/bench.json."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.latency_hops import HOP_NAMES
from bench.wake_probe import NAP_S

ROOT = Path(__file__).resolve().parents[1]
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
REPORT_JSON = ROOT / "reports" / "bench.json"
RESULTS_HEADER = (
    "# leadq benchmark results\n\n"
    "Appended by `make bench` (`python -m bench`), newest last. See the README's Benchmark\n"
    "section for what is measured and how the baseline differs from leadq.\n"
)
REQUIRED_KEYS = (
    "events_per_s_baseline",
    "events_per_s_leadq",
    "ratio",
    "latency_p50_ms",
    "latency_p99_ms",
    "recovery_s_1m",
    "peak_rss_mb_1m",
    "machine",
)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) by the nearest-rank method; NaN for no values."""
    if not 0 <= q <= 1:
        raise ValueError("q must be between 0 and 1")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median; NaN for no values."""
    return statistics.median(values) if values else math.nan


# What the issue asks of one very active lead: its worker CPU per event at most this many
# times the comparison stream's, and its encoded state under this many bytes (the bound
# tests/unit/core/test_state_size.py checks in the core).
ACTIVE_LEAD_CPU_RATIO_TARGET = 1.5
STATE_BOUND_BYTES = 64 * 1024

TAIL_SHARE = 0.01  # the slowest samples whose hops `tail_means` averages
KEPT_UP_SHARE = 0.95  # of the offered rate, processed: the worker kept up


def kept_up(processed_rate: float, offered_rate: float) -> bool:
    """Whether a worker processed events about as fast as they were offered (within 5 %)."""
    return processed_rate >= KEPT_UP_SHARE * offered_rate


@dataclass
class Figures:
    """Everything one benchmark run measured."""

    machine: dict[str, Any]
    mode: str
    events: int
    leads: int
    by_kind: dict[str, int]
    store: str
    partitions: int
    baseline_runs: list[float]
    leadq_runs: list[float]
    baseline_cpu: list[float]  # share of one core used, per run
    leadq_cpu: list[float | None]
    stage_changes_baseline: int
    stage_changes_leadq: int
    final_stage_mismatches: int | None  # leads in another final stage, unexplained
    final_stage_profile_order: int  # ... explained by the order their profile was processed in
    latency_rate: float
    latency_events: int
    latency_ms: list[float]
    latency_processed_rate: float
    recovery_leads: int
    recovery_s: float | None
    recovery_ready_s: float | None
    recovery_changelog_mb: float | None
    peak_rss_mb: float | None
    wall_s: float
    worker_env: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # step -> why it failed
    # The smaller stream the throughput comparison reads (None: the full stream), and the
    # baseline's runs over the full stream in that case.
    sample_events: int | None = None
    sample_leads: int | None = None
    sample_by_kind: dict[str, int] | None = None
    baseline_full_runs: list[float] = field(default_factory=list)
    baseline_full_cpu: list[float] = field(default_factory=list)
    # CPU time per input event (µs): the baseline process's, the leadq worker's.
    baseline_cpu_us: list[float] = field(default_factory=list)
    leadq_cpu_us: list[float | None] = field(default_factory=list)
    # How late a process napping 2 ms woke up during the latency run (ms; bench.wake_probe).
    latency_wake_late_ms: list[float] = field(default_factory=list)
    latency_hops_ms: list[tuple[float, float, float]] = field(default_factory=list)
    # The unmeasured warm-up run before the latency runs (bench.warm.warm_moderate_load).
    latency_warm_ms: list[float] = field(default_factory=list)
    # From a stage change's Kafka timestamp to a webhook receiver's 2xx (ms), per stage
    # change, at the latency run's load (bench.delivery), and the stage changes written.
    delivery_ms: list[float] = field(default_factory=list)
    delivery_changes: int = 0
    # The second latency run, at a higher offered load (`--rate-high`), measured alike.
    latency_high_rate: float = 0.0
    latency_high_events: int = 0
    latency_high_ms: list[float] = field(default_factory=list)
    latency_high_processed_rate: float = 0.0
    latency_high_wake_late_ms: list[float] = field(default_factory=list)
    latency_high_hops_ms: list[tuple[float, float, float]] = field(default_factory=list)
    # One very active lead (bench.active_lead): its events, the worker's rate and CPU per
    # event over them, and the lead's encoded state at the end (bytes) and stage.
    active_lead_events: int = 0
    active_lead_rate: float | None = None
    active_lead_cpu_us: float | None = None
    active_lead_state_bytes: int | None = None
    active_lead_stage: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def baseline(self) -> float:
        """Median baseline events/s."""
        return median(self.baseline_runs)

    @property
    def leadq(self) -> float:
        """Median leadq events/s."""
        return median(self.leadq_runs)

    @property
    def ratio(self) -> float:
        """leadq / baseline throughput."""
        return self.leadq / self.baseline if self.baseline > 0 else math.nan

    @property
    def cpu_us_baseline(self) -> float:
        """Median CPU per event of the baseline (µs), on the comparison stream."""
        return median(self.baseline_cpu_us)

    @property
    def cpu_us_leadq(self) -> float:
        """Median worker CPU per event of leadq (µs), on the comparison stream."""
        return median([v for v in self.leadq_cpu_us if v is not None])

    @property
    def cpu_ratio(self) -> float:
        """Baseline CPU per event / leadq worker CPU per event (medians): noise-robust."""
        return _ratio(self.cpu_us_baseline, self.cpu_us_leadq)

    @property
    def active_lead_cpu_ratio(self) -> float:
        """The very active lead's worker CPU per event / the comparison stream's."""
        return _ratio(self.active_lead_cpu_us, self.cpu_us_leadq)

    @property
    def kept_up(self) -> bool:
        """Whether the latency worker processed the offered load (see `kept_up`)."""
        return kept_up(self.latency_processed_rate, self.latency_rate)

    @property
    def kept_up_high(self) -> bool:
        """Whether the second latency run's worker processed its offered load."""
        return kept_up(self.latency_high_processed_rate, self.latency_high_rate)


def _ratio(a: float | None, b: float) -> float:
    if a is None or math.isnan(a) or math.isnan(b) or b <= 0:
        return math.nan
    return a / b


def to_json(f: Figures) -> dict[str, Any]:
    """reports/bench.json: the issue's keys first, the delivery latency, then the details."""
    return {
        "events_per_s_baseline": _round(f.baseline),
        "events_per_s_leadq": _round(f.leadq),
        "ratio": _round(f.ratio, 4),
        "latency_p50_ms": _round(percentile(f.latency_ms, 0.50), 1),
        "latency_p99_ms": _round(percentile(f.latency_ms, 0.99), 1),
        "recovery_s_1m": _round(f.recovery_s, 2),
        "peak_rss_mb_1m": _round(f.peak_rss_mb, 1),
        "machine": f.machine,
        "delivery_p50_ms": _round(percentile(f.delivery_ms, 0.50), 1),
        "delivery_p99_ms": _round(percentile(f.delivery_ms, 0.99), 1),
        "cpu_us_per_event_leadq": _round(f.cpu_us_leadq, 1),
        "cpu_us_per_event_baseline": _round(f.cpu_us_baseline, 1),
        "latency_p50_ms_5k": _round(percentile(f.latency_high_ms, 0.50), 1),
        "latency_p99_ms_5k": _round(percentile(f.latency_high_ms, 0.99), 1),
        "cpu_us_per_event_active_lead": _round(f.active_lead_cpu_us, 1),
        "active_lead_cpu_ratio": _round(f.active_lead_cpu_ratio, 3),
        "active_lead_state_bytes": f.active_lead_state_bytes,
        "details": {
            "mode": f.mode,
            "started_at": f.started_at.isoformat(timespec="seconds"),
            "wall_s": _round(f.wall_s, 1),
            "stream": {"events": f.events, "leads": f.leads, "by_kind": f.by_kind},
            "throughput_stream": {
                "events": f.sample_events or f.events,
                "leads": f.sample_leads or f.leads,
                "by_kind": f.sample_by_kind or f.by_kind,
            },
            "runs_events_per_s_baseline_full_stream": [_round(r) for r in f.baseline_full_runs],
            "runs_cpu_share_baseline_full_stream": [_round(c, 2) for c in f.baseline_full_cpu],
            "runs_cpu_us_per_event_baseline": [_round(c) for c in f.baseline_cpu_us],
            "runs_cpu_us_per_event_leadq": [_round(c) for c in f.leadq_cpu_us],
            "cpu_per_event_ratio": _round(f.cpu_ratio, 4),
            "store": f.store,
            "partitions": f.partitions,
            "worker_env": f.worker_env,
            "errors": f.errors,
            "runs_events_per_s_baseline": [_round(r) for r in f.baseline_runs],
            "runs_events_per_s_leadq": [_round(r) for r in f.leadq_runs],
            "runs_cpu_share_baseline": [_round(c, 2) for c in f.baseline_cpu],
            "runs_cpu_share_leadq": [_round(c, 2) for c in f.leadq_cpu],
            "stage_changes_baseline": f.stage_changes_baseline,
            "stage_changes_leadq": f.stage_changes_leadq,
            "final_stage_mismatches": f.final_stage_mismatches,
            "final_stage_profile_order": f.final_stage_profile_order,
            "latency_offered_per_s": f.latency_rate,
            "latency_events": f.latency_events,
            "latency_samples": len(f.latency_ms),
            "latency_max_ms": _round(max(f.latency_ms), 1) if f.latency_ms else None,
            "latency_processed_per_s": _round(f.latency_processed_rate),
            "latency_worker_kept_up": f.kept_up,
            "latency_wake_late_p99_ms": _round(percentile(f.latency_wake_late_ms, 0.99), 1),
            "latency_wake_late_max_ms": _round(max(f.latency_wake_late_ms, default=None), 1),
            "latency_hops_ms": hops_json(f.latency_hops_ms),
            "latency_warm_up_p99_ms": _round(percentile(f.latency_warm_ms, 0.99), 1),
            "latency_high_offered_per_s": f.latency_high_rate,
            "latency_high_events": f.latency_high_events,
            "latency_high_samples": len(f.latency_high_ms),
            "latency_high_max_ms": _round(max(f.latency_high_ms, default=None), 1),
            "latency_high_processed_per_s": _round(f.latency_high_processed_rate),
            "latency_high_worker_kept_up": f.kept_up_high if f.latency_high_events else None,
            "latency_high_wake_late_p99_ms": _round(
                percentile(f.latency_high_wake_late_ms, 0.99), 1
            ),
            "latency_high_wake_late_max_ms": _round(
                max(f.latency_high_wake_late_ms, default=None), 1
            ),
            "latency_high_hops_ms": hops_json(f.latency_high_hops_ms),
            "active_lead_events": f.active_lead_events,
            "active_lead_events_per_s": _round(f.active_lead_rate),
            "active_lead_final_stage": f.active_lead_stage,
            "active_lead_cpu_ratio_target": ACTIVE_LEAD_CPU_RATIO_TARGET,
            "state_bound_bytes": STATE_BOUND_BYTES,
            "delivery_samples": len(f.delivery_ms),
            "delivery_stage_changes": f.delivery_changes,
            "delivery_max_ms": _round(max(f.delivery_ms), 1) if f.delivery_ms else None,
            "recovery_leads": f.recovery_leads,
            "recovery_ready_s": _round(f.recovery_ready_s, 2),
            "recovery_changelog_mb": _round(f.recovery_changelog_mb, 1),
        },
    }


def hop_percentiles(hops: Sequence[tuple[float, ...]], q: float) -> list[float]:
    """Each hop's q-quantile."""
    return [percentile([h[i] for h in hops], q) for i in range(len(HOP_NAMES))]


def tail_means(hops: Sequence[tuple[float, ...]], share: float = TAIL_SHARE) -> list[float]:
    """Each hop's mean over the slowest `share` of the samples (by their sum): where the
    tail's time goes."""
    if not hops:
        return []
    slowest = sorted(hops, key=sum)[-max(1, round(len(hops) * share)) :]
    return [sum(h[i] for h in slowest) / len(slowest) for i in range(len(HOP_NAMES))]


def hop_summary(hops: Sequence[tuple[float, ...]]) -> list[tuple[str, float, float, float]]:
    """Each hop's name, p50, p99 and mean over the slowest 1 % (ms); none for no samples."""
    if not hops:
        return []
    p50, p99, tail = hop_percentiles(hops, 0.5), hop_percentiles(hops, 0.99), tail_means(hops)
    return list(zip(HOP_NAMES, p50, p99, tail, strict=True))


def describe_hops(hops: Sequence[tuple[float, ...]]) -> str:
    """One line: each hop's p50 / p99, and where the slowest 1 % spend their time."""
    summary = hop_summary(hops)
    if not summary:
        return ""
    each = ", ".join(f"{name} {a:,.0f} / {b:,.0f}" for name, a, b, _ in summary)
    slow = ", ".join(f"{name} {t:,.0f}" for name, _, _, t in summary)
    return f"by hop, p50 / p99 ms: {each}; the slowest 1 %, mean ms: {slow}"


def hops_json(hops: Sequence[tuple[float, ...]]) -> dict[str, dict[str, float | None]]:
    """Each hop's p50, p99 and mean over the slowest 1 % (ms), for reports/bench.json."""
    return {
        name: {"p50": _round(a, 1), "p99": _round(b, 1), "slowest_1pct_mean": _round(t, 1)}
        for name, a, b, t in hop_summary(hops)
    }


def _round(value: float | None, digits: int = 0) -> float | int | None:
    if value is None or math.isnan(value):
        return None
    return round(value, digits) if digits else round(value)


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def _share(values: Sequence[float | None], us: Sequence[float | None] = ()) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "CPU not measured"
    per_event = [v for v in us if v is not None]
    cost = f", {median(per_event):,.0f} µs CPU per event" if per_event else ""
    return f"{median(known):.0%} of a core busy{cost}"


def _wake_note(late_ms: Sequence[float]) -> str:
    if not late_ms:
        return ""
    return (
        f"; meanwhile a process napping {NAP_S * 1000:g} ms woke up late by up to "
        f"{max(late_ms):,.0f} ms (p99 {percentile(late_ms, 0.99):,.1f} ms), the machine's "
        "own delays"
    )


def _kinds(by_kind: dict[str, int], events: int) -> str:
    return ", ".join(f"{k} {v / events:.0%}" for k, v in sorted(by_kind.items()))


def _delivery(f: Figures) -> str:
    lat = f.delivery_ms
    if not lat:
        return "not measured"
    missing = f.delivery_changes - len(lat)
    delivered = "all delivered" if missing <= 0 else f"**{missing:,} not delivered**"
    return (
        f"p50 **{_num(percentile(lat, 0.5))} ms**, p99 **{_num(percentile(lat, 0.99))} ms**, "
        f"max {_num(max(lat))} ms (n={len(lat):,} stage changes, {delivered}; its own worker, "
        "one `leadq alerts` process, a local receiver answering at once)"
    )


ACTIVE_LEAD_ROW = "one very active lead: leadq over one lead's events"


def latency_row(rate: float | None) -> str:
    """The name of a latency run's row (its offered load, if known)."""
    offered = f"{rate:,.0f} events/s offered" if rate else "second offered load"
    return f"latency produce -> stage change readable, {offered}"


def _latency(
    lat: Sequence[float],
    events: int,
    up: bool,
    processed: float,
    wake_late: Sequence[float],
    hops: Sequence[tuple[float, ...]] = (),
) -> str:
    if not lat and not events:
        return "not measured"
    load = "kept up" if up else "did NOT keep up"
    by_hop = f"; {describe_hops(hops)}" if hops else ""
    return (
        f"p50 **{_num(percentile(lat, 0.5))} ms**, p99 **{_num(percentile(lat, 0.99))} ms**, "
        f"max {_num(max(lat) if lat else None)} ms (n={len(lat):,}; {events:,} "
        f"events; worker {load}: {_num(processed)} events/s processed{by_hop})"
        + _wake_note(wake_late)
    )


def _warm_note(warm_ms: Sequence[float]) -> str:
    if not warm_ms:
        return ""
    return (
        f"; after a warm-up run at the same load, not counted (its p99: "
        f"{_num(percentile(warm_ms, 0.99))} ms)"
    )


def _active_lead(f: Figures) -> str:
    if not f.active_lead_events:
        return "not measured"
    size = f.active_lead_state_bytes
    within = "n/a" if size is None else ("under" if size < STATE_BOUND_BYTES else "**not under**")
    return (
        f"{f.active_lead_events:,} events: **{_num(f.active_lead_cpu_us)} µs** of worker CPU "
        f"per event, **{_num(f.active_lead_cpu_ratio, 2)} times** the comparison stream's "
        f"(target ≤ {ACTIVE_LEAD_CPU_RATIO_TARGET:g}); {_num(f.active_lead_rate)} events/s; "
        f"its state at the end **{_num(size)} bytes** encoded, {within} the bound of "
        f"{STATE_BOUND_BYTES:,} (stage {f.active_lead_stage or 'n/a'})"
    )


def render_table(f: Figures) -> str:
    """The run's table (Markdown), with the machine and the stream it was measured on."""
    m = f.machine
    kinds = _kinds(f.by_kind, f.events)
    runs_b = " / ".join(_num(r) for r in f.baseline_runs)
    runs_l = " / ".join(_num(r) for r in f.leadq_runs)
    cpu_b = _share(f.baseline_cpu, f.baseline_cpu_us)
    cpu_l = _share(f.leadq_cpu, f.leadq_cpu_us)
    lat = f.latency_ms
    if f.final_stage_mismatches is None:
        agree = "final stages not compared"
    elif f.final_stage_mismatches:
        agree = f"**{f.final_stage_mismatches:,} leads end in another stage**"
    else:
        agree = "final stages agree"
    if f.final_stage_profile_order:
        agree += (
            f" (except {f.final_stage_profile_order:,} leads whose profile record was processed"
            " in another order: by design, see README)"
        )
    rec_leads = f"{f.recovery_leads:,} leads"
    rows = [("input stream", f"{f.events:,} events over {f.leads:,} leads ({kinds})")]
    over = ""
    if f.sample_events is not None:
        runs_f = " / ".join(_num(r) for r in f.baseline_full_runs)
        sample_kinds = _kinds(f.sample_by_kind or {}, f.sample_events)
        rows += [
            (
                f"baseline events/s over that whole stream, median of {len(f.baseline_full_runs)}",
                f"**{_num(median(f.baseline_full_runs))}** (runs {runs_f}; "
                f"{_share(f.baseline_full_cpu)})",
            ),
            (
                "throughput comparison stream (both engines)",
                f"{f.sample_events:,} events over {f.sample_leads or 0:,} leads, same simulator "
                f"and seed ({sample_kinds})",
            ),
        ]
        over = " over the comparison stream"
    cpu_ratio = f"; CPU per event, baseline / leadq: {_num(f.cpu_ratio, 3)}"
    rows += [
        (
            f"baseline events/s{over}, median of {len(f.baseline_runs)}",
            f"**{_num(f.baseline)}** (runs {runs_b}; {cpu_b})",
        ),
        (
            f"leadq events/s{over}, median of {len(f.leadq_runs)}",
            f"**{_num(f.leadq)}** (runs {runs_l}; {cpu_l})",
        ),
        ("ratio leadq / baseline", f"**{_num(f.ratio, 3)}**{cpu_ratio if f.leadq_cpu_us else ''}"),
        (
            "stage changes emitted (per run)",
            f"baseline {f.stage_changes_baseline:,}, leadq {f.stage_changes_leadq:,}; {agree}",
        ),
        (
            latency_row(f.latency_rate),
            _latency(
                lat,
                f.latency_events,
                f.kept_up,
                f.latency_processed_rate,
                f.latency_wake_late_ms,
                f.latency_hops_ms,
            )
            + _warm_note(f.latency_warm_ms),
        ),
        (
            latency_row(f.latency_high_rate or None),
            _latency(
                f.latency_high_ms,
                f.latency_high_events,
                f.kept_up_high,
                f.latency_high_processed_rate,
                f.latency_high_wake_late_ms,
                f.latency_high_hops_ms,
            ),
        ),
        (
            f"delivery stage change written -> webhook answered 2xx, {f.latency_rate:,.0f}"
            " events/s offered",
            _delivery(f),
        ),
        (
            f"recovery of {rec_leads} from the changelog",
            f"**{_num(f.recovery_s, 1)} s** to resume (ready line after "
            f"{_num(f.recovery_ready_s, 1)} s; changelog {_num(f.recovery_changelog_mb)} MB)",
        ),
        (f"peak RSS of that worker ({rec_leads})", f"**{_num(f.peak_rss_mb)} MB** (VmHWM)"),
        (ACTIVE_LEAD_ROW, _active_lead(f)),
    ]
    failing = (
        ("latency", (latency_row(f.latency_rate),)),
        ("latency_high", (latency_row(f.latency_high_rate or None),)),
        ("delivery", ("delivery",)),
        ("recovery", ("recovery", "peak RSS")),
        ("active_lead", (ACTIVE_LEAD_ROW,)),
    )
    for step, names in failing:
        if step in f.errors:
            why = _shorten(f.errors[step])
            rows = [(n, f"**FAILED**: {why}" if n.startswith(names) else v) for n, v in rows]
    machine = (
        f"{m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB, {m['os']}, Python {m['python']}, "
        f"Apache Kafka {m['kafka']} ({m['broker']} broker)"
    )
    setup = (
        f"leadq: 1 worker, preset `default`, store `{f.store}`, {f.partitions} partitions. "
        "baseline: 1 aiokafka consumer + idempotent producer (acks=all), state in a dict, "
        "no re-keying topic (see README)."
    )
    if f.worker_env:
        setup += " Worker environment: " + ", ".join(f"`{k}={v}`" for k, v in f.worker_env.items())
        setup += "."
    lines = [
        f"### {f.started_at:%Y-%m-%d %H:%M} UTC, {f.mode} run ({f.wall_s / 60:.1f} min)",
        "",
        f"Machine: {machine}.  ",
        f"Setup: {setup}",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
    ]
    return "\n".join(lines) + "\n"


def _shorten(text: str, limit: int = 300) -> str:
    """One line of at most `limit` characters, safe inside a Markdown table cell."""
    line = " ".join(text.split()).replace("|", "/")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def append_results(table: str, path: Path = RESULTS_MD) -> None:
    """Append a run's table to bench/RESULTS.md (created with a header when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        if out.tell() == 0:
            out.write(RESULTS_HEADER)
        out.write("\n" + table)


def write_json(f: Figures, path: Path = REPORT_JSON) -> dict[str, Any]:
    """Write reports/bench.json; return what was written."""
    data = to_json(f)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    return data
