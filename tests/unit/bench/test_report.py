"""The benchmark's pure parts: percentiles, the table, the JSON keys, options, state clones."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.__main__ import (
    FULL_LEADS,
    QUICK_EVENTS,
    QUICK_RECOVERY_LEADS,
    RECOVERY_LEADS,
    SAMPLE_LEADS,
    parse,
)
from bench.active_lead import QUICK_ACTIVE_EVENTS
from bench.common import reached, worker_overrides
from bench.latency import latencies_ms
from bench.preload import leads_for
from bench.recovery import clone_id, find_probe, synthesise, templates_of
from bench.report import (
    REQUIRED_KEYS,
    RESULTS_HEADER,
    Figures,
    append_results,
    median,
    percentile,
    render_table,
    to_json,
    write_json,
)
from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.core.state import Hit, LeadState


def figures(**overrides: Any) -> Figures:
    values: dict[str, Any] = {
        "machine": {
            "cores": 2,
            "cpu": "Test CPU",
            "memory_gb": 24.0,
            "os": "Linux",
            "python": "3.11.7",
            "kafka": "4.4.0",
            "broker": "local",
        },
        "mode": "quick",
        "events": 1000,
        "leads": 87,
        "by_kind": {"website": 600, "email": 280, "call": 60, "profile": 60},
        "store": "rocksdb://",
        "partitions": 4,
        "baseline_runs": [9000.0, 10000.0, 11000.0],
        "leadq_runs": [1200.0, 1000.0, 1100.0],
        "baseline_cpu": [0.9, 0.95, 0.92],
        "leadq_cpu": [0.97, None, 0.99],
        "stage_changes_baseline": 40,
        "stage_changes_leadq": 39,
        "final_stage_mismatches": 0,
        "final_stage_profile_order": 0,
        "latency_rate": 2000.0,
        "latency_events": 20000,
        "latency_ms": [float(v) for v in range(1, 101)],
        "latency_processed_rate": 1990.0,
        "delivery_ms": [float(v) for v in range(10, 210, 2)],
        "delivery_changes": 100,
        "recovery_leads": 1_000_000,
        "recovery_s": 123.456,
        "recovery_ready_s": 120.0,
        "recovery_changelog_mb": 480.0,
        "peak_rss_mb": 512.25,
        "wall_s": 600.0,
        "started_at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
    }
    values.update(overrides)
    return Figures(**values)


# -- percentiles ----------------------------------------------------------------------


def test_percentile_uses_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile(values, 0.0) == 1


def test_percentile_does_not_depend_on_input_order() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3
    assert percentile([7.0], 0.99) == 7


def test_percentile_of_nothing_is_nan_and_q_is_checked() -> None:
    assert math.isnan(percentile([], 0.5))
    with pytest.raises(ValueError, match="between 0 and 1"):
        percentile([1.0], 1.5)


def test_median_of_runs() -> None:
    assert median([3.0, 1.0, 2.0]) == 2
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert math.isnan(median([]))


# -- JSON ---------------------------------------------------------------------------------


def test_json_has_the_issue_keys_with_the_figures() -> None:
    data = to_json(figures())
    assert list(data)[: len(REQUIRED_KEYS)] == list(REQUIRED_KEYS)
    assert data["events_per_s_baseline"] == 10000
    assert data["events_per_s_leadq"] == 1100
    assert data["ratio"] == 0.11
    assert data["latency_p50_ms"] == 50
    assert data["latency_p99_ms"] == 99
    assert data["recovery_s_1m"] == 123.46
    assert data["peak_rss_mb_1m"] == 512.2
    assert data["machine"]["cores"] == 2
    assert data["details"]["recovery_leads"] == 1_000_000
    assert data["details"]["latency_worker_kept_up"] is True


def test_json_turns_missing_figures_into_null(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "bench.json"
    write_json(figures(latency_ms=[], peak_rss_mb=None, baseline_runs=[]), path)
    data = orjson.loads(path.read_bytes())
    assert data["latency_p50_ms"] is None
    assert data["peak_rss_mb_1m"] is None
    assert data["events_per_s_baseline"] is None
    assert data["ratio"] is None


# -- table ----------------------------------------------------------------------------------


def test_table_shows_machine_and_every_figure() -> None:
    table = render_table(figures())
    assert "2 cores, Test CPU" in table
    assert "Python 3.11.7" in table
    assert "Apache Kafka 4.4.0" in table
    assert "store `rocksdb://`" in table
    assert "**10,000** (runs 9,000 / 10,000 / 11,000; 92% of a core busy)" in table
    assert "**1,100** (runs 1,200 / 1,000 / 1,100; 98% of a core busy)" in table
    assert "**0.110**" in table
    assert "p50 **50 ms**, p99 **99 ms**, max 100 ms" in table
    assert "1,000,000 leads" in table
    assert "**123.5 s** to resume" in table
    assert "**512 MB**" in table
    assert "final stages agree" in table
    assert "worker kept up" in table


def test_table_is_a_markdown_table_with_one_row_per_figure() -> None:
    lines = render_table(figures()).splitlines()
    rows = [line for line in lines if line.startswith("|")]
    assert rows[:2] == ["| figure | value |", "|---|---|"]
    assert len(rows) == 13
    assert all(row.endswith("|") and row.count("|") == 3 for row in rows)


def test_table_names_the_comparison_stream_and_the_cpu_per_event() -> None:
    f = figures(
        events=576_000,
        leads=50_000,
        sample_events=115_000,
        sample_leads=10_000,
        sample_by_kind={"website": 69_000, "email": 32_000, "call": 7_000, "profile": 7_000},
        baseline_full_runs=[14_000.0, 15_000.0, 16_000.0],
        baseline_full_cpu=[0.9, 0.9, 0.9],
        baseline_cpu_us=[60.0, 70.0, 80.0],
        leadq_cpu_us=[300.0, None, 350.0],
    )
    table = render_table(f)
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == 15
    assert "576,000 events over 50,000 leads" in table
    assert "over that whole stream, median of 3 | **15,000**" in table
    assert "115,000 events over 10,000 leads" in table
    assert "leadq events/s over the comparison stream, median of 3 | **1,100**" in table
    assert "70 µs CPU per event" in table
    assert "325 µs CPU per event" in table
    assert "CPU per event, baseline / leadq: 0.215" in table
    data = to_json(f)
    assert data["details"]["throughput_stream"]["events"] == 115_000
    assert data["details"]["runs_events_per_s_baseline_full_stream"] == [14_000, 15_000, 16_000]
    assert data["details"]["cpu_per_event_ratio"] == round(70 / 325, 4)


def test_table_says_when_the_worker_fell_behind_or_stages_differ() -> None:
    table = render_table(figures(latency_processed_rate=900.0, final_stage_mismatches=3))
    assert "did NOT keep up" in table
    assert "3 leads end in another stage" in table
    table = render_table(figures(final_stage_profile_order=5))
    assert "final stages agree (except 5 leads whose profile record" in table


def test_failed_steps_are_shown_instead_of_their_figures() -> None:
    failed = figures(
        latency_ms=[],
        recovery_s=None,
        peak_rss_mb=None,
        errors={"recovery": "TimeoutError: no stage change\nworker | output"},
    )
    table = render_table(failed)
    rows = [line for line in table.splitlines() if line.startswith("| recovery of")]
    assert rows == [
        "| recovery of 1,000,000 leads from the changelog | **FAILED**: TimeoutError: "
        "no stage change worker / output |"
    ]
    assert "| peak RSS of that worker (1,000,000 leads) | **FAILED**" in table
    assert to_json(failed)["details"]["errors"] == failed.errors
    assert to_json(failed)["recovery_s_1m"] is None


def test_results_file_gets_a_header_once_then_tables_appended(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    append_results("table one\n", path)
    append_results("table two\n", path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(RESULTS_HEADER)
    assert text.count(RESULTS_HEADER) == 1
    assert text.index("table one") < text.index("table two")


def test_table_names_worker_environment_overrides() -> None:
    assert "Worker environment" not in render_table(figures())
    table = render_table(figures(worker_env={"PRODUCER_LINGER": "0.02"}))
    assert "Worker environment: `PRODUCER_LINGER=0.02`." in table


def test_worker_overrides_pick_faust_tunables_and_the_store() -> None:
    environ = {
        "PRODUCER_LINGER": "0.02",
        "BROKER_MAX_POLL_RECORDS": "500",
        "LEADQ_STORE": "memory://",
        "HOME": "/root",
        "LEADQ_RULES": "startup",
    }
    assert worker_overrides(environ) == {
        "BROKER_MAX_POLL_RECORDS": "500",
        "LEADQ_STORE": "memory://",
        "PRODUCER_LINGER": "0.02",
    }


# -- options ---------------------------------------------------------------------------


def test_default_and_quick_sizes() -> None:
    full, quick = parse([]), parse(["--quick"])
    assert (full.events, full.leads, full.sample_leads) == (None, FULL_LEADS, SAMPLE_LEADS)
    assert (full.recovery_leads, full.runs, full.mode) == (RECOVERY_LEADS, 3, "full")
    assert (quick.events, quick.leads, quick.sample_leads) == (QUICK_EVENTS, None, None)
    assert (quick.recovery_leads, quick.mode) == (QUICK_RECOVERY_LEADS, "quick")
    assert parse(["--events", "5000"]).mode == "custom"
    assert (full.rate, full.rate_high, full.active_events) == (2000, 5000, 100_000)
    assert quick.active_events == QUICK_ACTIVE_EVENTS == 10_000
    assert parse(["--rate-high", "4000"]).mode == "custom"
    assert parse(["--active-lead-events", "500"]).active_events == 500
    with pytest.raises(SystemExit):
        parse(["--active-lead-events", "0"])
    assert parse(["--sample-leads", "0"]).sample_leads is None


def test_recovery_or_delivery_can_be_measured_alone() -> None:
    assert parse(["--only", "recovery", "--quick"]).only == "recovery"
    assert parse(["--only", "delivery"]).only == "delivery"
    assert parse([]).only is None
    with pytest.raises(SystemExit):
        parse(["--only", "throughput"])


def test_the_default_stream_has_the_issue_size() -> None:
    # >= 500,000 events over >= 50,000 leads (the simulator averages 11.5 events a lead).
    assert FULL_LEADS >= 50_000
    assert leads_for(500_000) <= FULL_LEADS


def test_leads_alone_leave_the_event_count_open() -> None:
    opts = parse(["--leads", "200"])
    assert (opts.leads, opts.events, opts.sample_leads) == (200, None, None)


def test_runs_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        parse(["--runs", "0"])


def test_leads_for_an_event_count() -> None:
    assert leads_for(575_000) == 50_000
    assert leads_for(1) == 1


# -- helpers ---------------------------------------------------------------------------------


def test_latencies_match_changes_to_their_trigger_events() -> None:
    sent = {"e1": 10.0, "e2": 11.0}
    arrivals = [("e1", 10.25), ("e2", 11.5), ("e2", 11.5), ("other", 12.0)]
    assert latencies_ms(sent, arrivals) == [250.0, 500.0, 500.0]


def test_reached_ignores_empty_partitions() -> None:
    from aiokafka import TopicPartition

    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    assert reached({a: 5}, {a: 5, b: 0})
    assert not reached({a: 4}, {a: 5})
    assert reached({a: 6, b: 2}, {a: 5, b: 2})


# -- recovery state ----------------------------------------------------------------------------


def sql_state(lead_id: str) -> LeadState:
    return LeadState(
        key=lead_id,
        stage="sql",
        sequence=1,
        seen={f"{lead_id}-1": 1_700_000_000_000, f"{lead_id}-2": 1_700_000_000_000},
        hits={"demo_request": (Hit(f"{lead_id}-2", 1_700_000_000_000, 30.0),)},
    )


def test_clones_keep_the_template_size_and_rename_every_id() -> None:
    templates = templates_of({"sim-000001": sql_state("sim-000001")})
    clones = list(synthesise(templates, 3))
    assert [lead for lead, _ in clones] == [clone_id(i, 10) for i in range(3)]
    for lead, raw in clones:
        assert len(lead) == 10
        assert len(raw) == len(templates[0][1])
        assert b"sim-000001" not in raw
        state = orjson.loads(raw)
        assert state["key"] == lead
        assert [eid for eid, _ in state["seen"]] == [f"{lead}-1", f"{lead}-2"]


def test_templates_leave_out_anonymous_visitors() -> None:
    states = {"anon:v-1": LeadState(key="anon:v-1"), "sim-000002": sql_state("sim-000002")}
    assert [lead for lead, _ in templates_of(states)] == ["sim-000002"]


def test_probe_needs_the_restored_state() -> None:
    qualifier = Qualifier(load_ruleset("default"))
    templates = templates_of({"sim-000003": sql_state("sim-000003")})
    probe = find_probe(qualifier, templates, 10)
    assert probe.lead_id == clone_id(0, 10)
    assert probe.expected.from_stage == "sql"
    assert probe.expected.sequence == 2
    assert probe.event_id == f"{probe.lead_id}-probe"


def test_latency_row_shows_how_late_a_napping_process_woke_up() -> None:
    late = [0.1] * 98 + [30.0, 70.0]
    table = render_table(figures(latency_wake_late_ms=late))
    assert "woke up late by up to 70 ms (p99 30.0 ms)" in table
    assert "woke up late" not in render_table(figures())  # not measured: not mentioned


def test_latency_row_gives_the_warm_up_runs_p99_and_the_json_too() -> None:
    f = figures(latency_warm_ms=[float(v) for v in range(1, 201)])  # p99: 198
    assert "after a warm-up run at the same load, not counted (its p99: 198 ms)" in (
        render_table(f)
    )
    assert to_json(f)["details"]["latency_warm_up_p99_ms"] == 198
    assert "warm-up run" not in render_table(figures())  # none made: not mentioned
    assert to_json(figures())["details"]["latency_warm_up_p99_ms"] is None


def test_json_has_the_wake_up_lateness() -> None:
    extra = to_json(figures(latency_wake_late_ms=[0.5, 2.0, 9.0]))["details"]
    assert extra["latency_wake_late_p99_ms"] == 9.0
    assert extra["latency_wake_late_max_ms"] == 9.0
    assert to_json(figures())["details"]["latency_wake_late_max_ms"] is None


def test_delivery_row_and_json_keys() -> None:
    table = render_table(figures())
    row = "| delivery stage change written -> webhook answered 2xx, 2,000 events/s offered | "
    assert (
        row + "p50 **108 ms**, p99 **206 ms**, max 208 ms (n=100 stage changes, all delivered"
        in table
    )
    data = to_json(figures())
    assert (data["delivery_p50_ms"], data["delivery_p99_ms"]) == (108, 206)
    assert data["details"]["delivery_stage_changes"] == 100
    assert data["details"]["delivery_max_ms"] == 208
    short = render_table(figures(delivery_changes=103))
    assert "**3 not delivered**" in short
    assert "| not measured |" in render_table(figures(delivery_ms=[]))


def test_a_failed_delivery_measurement_is_shown() -> None:
    table = render_table(figures(delivery_ms=[], errors={"delivery": "TimeoutError: deliveries"}))
    assert "2,000 events/s offered | **FAILED**: TimeoutError: deliveries |" in table
    assert to_json(figures(delivery_ms=[]))["delivery_p99_ms"] is None


# -- second latency run, CPU per event, the very active lead ------------------------------------


HIGH = {
    "latency_high_rate": 5000.0,
    "latency_high_events": 100_000,
    "latency_high_ms": [float(v) for v in range(101, 201)],
    "latency_high_processed_rate": 4100.0,
}
ACTIVE = {
    "baseline_cpu_us": [60.0, 70.0, 80.0],
    "leadq_cpu_us": [120.0, None, 140.0],
    "active_lead_events": 100_000,
    "active_lead_rate": 900.0,
    "active_lead_cpu_us": 390.0,
    "active_lead_state_bytes": 853_001,
    "active_lead_stage": "sqo",
}


def test_json_has_the_cpu_per_event_the_5k_latency_and_the_active_lead() -> None:
    data = to_json(figures(**HIGH, **ACTIVE))
    assert (data["cpu_us_per_event_leadq"], data["cpu_us_per_event_baseline"]) == (130, 70)
    assert (data["latency_p50_ms_5k"], data["latency_p99_ms_5k"]) == (150, 199)
    assert data["cpu_us_per_event_active_lead"] == 390
    assert data["active_lead_cpu_ratio"] == 3.0
    assert data["active_lead_state_bytes"] == 853_001
    details = data["details"]
    assert details["latency_high_worker_kept_up"] is False
    assert (details["latency_high_offered_per_s"], details["latency_high_samples"]) == (5000, 100)
    assert (details["active_lead_events"], details["active_lead_final_stage"]) == (100_000, "sqo")


def test_json_without_the_new_measurements_has_nulls() -> None:
    data = to_json(figures())
    keys = ("latency_p99_ms_5k", "cpu_us_per_event_active_lead", "active_lead_cpu_ratio")
    assert [data[k] for k in keys] == [None, None, None]
    assert data["active_lead_state_bytes"] is None
    assert data["details"]["latency_high_worker_kept_up"] is None


def test_table_rows_of_the_5k_latency_and_the_active_lead() -> None:
    table = render_table(figures(**HIGH, **ACTIVE))
    assert (
        "| latency produce -> stage change readable, 5,000 events/s offered | p50 **150 ms**, "
        "p99 **199 ms**, max 200 ms (n=100; 100,000 events; worker did NOT keep up: 4,100 "
        "events/s processed) |" in table
    )
    assert "2,000 events/s offered | p50 **50 ms**" in table
    row = next(line for line in table.splitlines() if "one very active lead" in line)
    assert "100,000 events: **390 µs** of worker CPU per event, **3.00 times**" in row
    assert "(target ≤ 1.5)" in row
    assert "**853,001 bytes** encoded, **not under** the bound of 65,536 (stage sqo)" in row
    small = render_table(figures(**ACTIVE | {"active_lead_state_bytes": 40_000}))
    assert "**40,000 bytes** encoded, under the bound" in small
    assert render_table(figures()).count("| not measured |") == 2


def test_a_failed_second_latency_run_leaves_the_first_ones_row() -> None:
    failed = figures(errors={"latency_high": "TimeoutError: latency drain"}, latency_high_rate=5e3)
    table = render_table(failed)
    assert "5,000 events/s offered | **FAILED**: TimeoutError: latency drain |" in table
    assert "2,000 events/s offered | p50 **50 ms**" in table
    lost = render_table(figures(errors={"active_lead": "TimeoutError: worker"}))
    assert "leadq over one lead's events | **FAILED**: TimeoutError: worker |" in lost


def test_the_latency_rows_say_where_the_time_goes_by_hop() -> None:
    # 100 samples: the slowest (1 %) spends its time in the rules hop.
    hops = [(5.0, 3.0, 2.0)] * 99 + [(6.0, 90.0, 4.0)]
    f = figures(latency_hops_ms=hops, latency_high_hops_ms=[])
    table = render_table(f)
    assert (
        "by hop, p50 / p99 ms: ingest 5 / 5, rules 3 / 3, to reader 2 / 2; "
        "the slowest 1 %, mean ms: ingest 6, rules 90, to reader 4"
    ) in table
    assert table.count("by hop") == 1  # the second run measured none
    data = to_json(f)["details"]
    assert data["latency_hops_ms"]["rules"] == {"p50": 3.0, "p99": 3.0, "slowest_1pct_mean": 90.0}
    assert data["latency_high_hops_ms"] == {}
