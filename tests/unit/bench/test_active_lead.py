"""The very active lead's result: its state replayed through the core, its progress line."""

from __future__ import annotations

from bench.active_lead import replayed
from bench.leadq_run import LeadqResult
from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.tools.expected import valid_events
from streams.tools.simulate.active import ACTIVE_LEAD_ID, active_lead
from streams.worker.codec import encode_state


def run(events: int) -> LeadqResult:
    return LeadqResult(
        events=events,
        seconds=2.0,
        startup_s=3.0,
        stage_changes=2,
        peak_rss_mb=200.0,
        store="rocksdb://",
        final_stages={ACTIVE_LEAD_ID: "sqo"},
        cpu_s=0.5,
    )


def test_the_replayed_state_is_the_cores_fold_of_the_leads_events() -> None:
    stream = active_lead(600)
    result = replayed(run(600), stream)
    events, _ = valid_events((e.kind, e.value) for e in stream)
    state, _ = Qualifier(load_ruleset("default")).fold(events, ACTIVE_LEAD_ID)
    assert result.state_bytes == len(encode_state(state))
    assert (result.stage, result.state_from) == (state.stage, "replay")


def test_the_progress_line_names_the_cpu_per_event_and_the_state_size() -> None:
    line = replayed(run(600), active_lead(600)).line()
    assert "600 events, 300 events/s, 833 µs of worker CPU per event" in line
    assert "bytes encoded (from the replay)" in line
