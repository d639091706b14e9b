"""One very active lead: a leadq run over one lead's long stream, and that lead's stored state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.baseline import report_progress
from bench.common import BenchEnv, end_offsets, read_range, say
from bench.leadq_run import LeadqResult, run_leadq, run_settings
from bench.preload import preload
from bench.recovery import offline_states
from streams.core.state import LeadState
from streams.settings import Settings
from streams.tools.simulate.active import ACTIVE_LEAD_ID, active_lead
from streams.tools.simulate.event import SimEvent
from streams.worker.codec import decode_state, encode_state
from streams.worker.topics import TopicNames

ACTIVE_EVENTS = 100_000
QUICK_ACTIVE_EVENTS = 10_000
RUN = "active"


@dataclass(frozen=True)
class ActiveLeadResult:
    """The worker's run over the lead's events, and the lead's state as stored at the end."""

    run: LeadqResult
    state_bytes: int
    stage: str
    state_from: str  # "changelog", or "replay" when the changelog held no readable state

    def line(self) -> str:
        """One line for the progress output."""
        return (
            f"one very active lead: {self.run.events:,} events, {self.run.events_per_s:,.0f} "
            f"events/s, {self.run.cpu_us_per_event or 0:,.0f} µs of worker CPU per event; "
            f"its state ends in stage {self.stage}, {self.state_bytes:,} bytes encoded "
            f"(from the {self.state_from})"
        )


async def run_active_lead(env: BenchEnv, events: int, seed: int) -> ActiveLeadResult:
    """Load `events` events of one lead into fresh topics and time a fresh worker over them
    (as a throughput run); then read the lead's final state from the worker's changelog."""
    stream = active_lead(events, seed)
    loaded = await preload(env.settings("active."), stream, 1)
    say(f"one very active lead: {loaded.events:,} events of {ACTIVE_LEAD_ID} loaded")
    data_dir = env.work_dir / "leadq-active"
    run = await run_leadq(loaded, RUN, data_dir, report_progress("active lead", loaded.events))
    try:
        stored = await last_states(run_settings(loaded, RUN, data_dir))
    except (ValueError, KeyError, TypeError) as exc:  # not what encode_state writes
        say(f"one very active lead: the changelog's last records are not states ({exc})")
        stored = {}
    state = stored.get(ACTIVE_LEAD_ID)
    if state is not None:
        return ActiveLeadResult(run, len(encode_state(state)), state.stage, "changelog")
    say("one very active lead: its state is not in the changelog; replaying its events")
    return replayed(run, stream)


def replayed(run: LeadqResult, stream: Sequence[SimEvent]) -> ActiveLeadResult:
    """The result with the lead's state from replaying its events through the core."""
    state = offline_states(stream)[ACTIVE_LEAD_ID]
    return ActiveLeadResult(run, len(encode_state(state)), state.stage, "replay")


async def last_states(settings: Settings) -> dict[str, LeadState]:
    """The state in the last record of each partition of the worker's changelog, by lead id
    (a run over one lead's events writes that lead's key alone)."""
    topic = TopicNames.of(settings).changelog
    ends = await end_offsets(settings, [topic])
    last = {tp: end for tp, end in ends.items() if end > 0}
    starts = {tp: end - 1 for tp, end in last.items()}
    states = [decode_state(raw) for raw in await read_range(settings, starts, last)]
    return {state.key: state for state in states}
