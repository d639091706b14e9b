"""The loads the latency runs offer: as many simulated events as asked for, in time order."""

from __future__ import annotations

from bench.preload import leads_for, simulate, simulate_events


def test_exactly_the_events_asked_for_where_the_leads_alone_fall_short() -> None:
    count = 5_000
    assert len(simulate(leads_for(count), 4, "lat")) < count  # why simulate_events exists
    events = simulate_events(count, 4, "lat")
    assert len(events) == count
    assert all(e.value["event_id"].startswith("lat-") for e in events)
    assert events == simulate_events(count, 4, "lat")
