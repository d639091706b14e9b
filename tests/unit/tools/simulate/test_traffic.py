"""Simulated traffic: reproducible, valid per the contract, and a realistic funnel."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas.decode import Rejection, decode
from schemas.events import PROFILE_FIELDS
from streams.core.events import LeadEvent
from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.traffic import generate
from tests.support.traffic import sample

FUNNEL_LEADS = 2000


def when(event: SimEvent) -> datetime:
    field = "updated_at" if event.kind == "profile" else "occurred_at"
    return datetime.fromisoformat(event.value[field])


def to_lead_event(event: SimEvent) -> LeadEvent:
    value = event.value
    if event.kind == "profile":
        return LeadEvent(
            event_id=value["event_id"],
            type="profile",
            occurred_at=when(event),
            lead_id=value["lead_id"],
            properties={k: value[k] for k in PROFILE_FIELDS if k in value},
        )
    return LeadEvent(
        event_id=value["event_id"],
        type=value["type"],
        occurred_at=when(event),
        lead_id=value.get("lead_id"),
        anonymous_id=value.get("anonymous_id"),
        properties=value.get("properties", {}),
    )


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_same_traffic() -> None:
    assert generate(200, 42) == generate(200, 42)


def test_different_seed_different_traffic() -> None:
    assert generate(200, 42) != generate(200, 43)


def test_start_moves_event_time_only() -> None:
    later = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    base, moved = generate(50, 5), generate(50, 5, start=later)
    assert [e.value["event_id"] for e in base] == [e.value["event_id"] for e in moved]
    shift = later - datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert all(when(b) + shift == when(m) for b, m in zip(base, moved, strict=True))


def test_lead_prefix_names_leads() -> None:
    events = generate(20, 1, lead_prefix="run7")
    assert all(e.value["event_id"].startswith("run7-") for e in events)
    assert all(e.value.get("lead_id", "run7-").startswith("run7-") for e in events)


def test_zero_leads_is_empty() -> None:
    assert generate(0, 1) == []


# -- contract ---------------------------------------------------------------------------------


def test_every_value_passes_the_contract_decoder() -> None:
    for event in sample():
        decoded = decode(event.kind, orjson.dumps(event.value))
        assert not isinstance(decoded, Rejection), (event, decoded)


def test_event_ids_are_unique() -> None:
    ids = [e.value["event_id"] for e in sample()]
    assert len(ids) == len(set(ids))


def test_sorted_by_event_time_then_event_id() -> None:
    order = [(when(e), e.value["event_id"]) for e in sample()]
    assert order == sorted(order)


def test_timestamps_carry_an_offset_and_start_at_the_default_start() -> None:
    events = sample()
    assert all(when(e).utcoffset() is not None for e in events)
    assert when(events[0]) >= datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_keys_follow_the_contract() -> None:
    events = sample(1000)
    unkeyed = Counter(e.kind for e in events if e.key is None)
    total = Counter(e.kind for e in events)
    for event in events:
        value = event.value
        if event.kind == "profile":
            assert event.key == value["lead_id"]
        elif event.key is not None:
            allowed = {value.get("lead_id"), value.get("anonymous_id")}
            if event.kind != "website":
                allowed = {value["lead_id"]}
            assert event.key in allowed
    assert unkeyed["profile"] == 0
    for kind in ("website", "email", "call"):
        assert 0.05 <= unkeyed[kind] / total[kind] <= 0.15, kind


def test_anonymous_visitors_are_identified_later() -> None:
    events = sample(1000)
    anonymous = [e for e in events if "lead_id" not in e.value]
    assert anonymous, "some website events are anonymous"
    assert {e.kind for e in anonymous} == {"website"}
    assert 0.01 <= len(anonymous) / len(events) <= 0.15
    identified: dict[str, datetime] = {}
    for event in events:
        if event.value.get("type") == "identify":
            assert event.value["lead_id"]
            identified[event.value["anonymous_id"]] = when(event)
    for event in anonymous:
        anon = event.value["anonymous_id"]
        assert anon in identified
        assert when(event) < identified[anon]


def test_some_leads_have_profiles_with_fit_fields() -> None:
    events = sample(1000)
    leads = {e.value["lead_id"] for e in events if "lead_id" in e.value}
    profiles = [e.value for e in events if e.kind == "profile"]
    with_profile = {p["lead_id"] for p in profiles}
    assert 0.3 <= len(with_profile) / len(leads) <= 0.9
    present = {k for p in profiles for k in PROFILE_FIELDS if k in p}
    assert {"seniority", "company_size", "industry", "country", "job_title"} <= present
    assert "email_domain" in present


def test_journeys_span_hours_to_weeks() -> None:
    spans: dict[str, list[datetime]] = defaultdict(list)
    for event in sample(1000):
        if "lead_id" in event.value:
            spans[event.value["lead_id"]].append(when(event))
    lengths = sorted(max(ts) - min(ts) for ts in spans.values())
    median = lengths[len(lengths) // 2]
    assert timedelta(hours=6) <= median <= timedelta(days=14)
    assert lengths[-1] <= timedelta(days=70)
    assert lengths[int(len(lengths) * 0.9)] >= timedelta(days=7)


# -- funnel under the `default` preset -------------------------------------------------------


def funnel(leads: int, seed: int) -> dict[str, float]:
    by_lead: dict[str, list[LeadEvent]] = defaultdict(list)
    for event in generate(leads, seed):
        if "lead_id" not in event.value:
            continue  # anonymous-only website events: the lead is not known yet
        by_lead[event.value["lead_id"]].append(to_lead_event(event))
    assert len(by_lead) == leads
    qualifier = Qualifier(load_ruleset("default"))
    reached: Counter[str] = Counter()
    for lead_id, events in by_lead.items():
        _, changes = qualifier.fold(events, key=lead_id)
        for stage in {c.to_stage for c in changes}:
            reached[stage] += 1
    return {
        "sql": reached["sql"] / leads,
        "sqo_of_sql": reached["sqo"] / reached["sql"],
        "disqualified": reached["disqualified"] / leads,
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_funnel_shape_under_default_preset(seed: int) -> None:
    shares = funnel(FUNNEL_LEADS, seed)
    assert 0.20 <= shares["sql"] <= 0.35, shares
    assert 1 / 3 <= shares["sqo_of_sql"] <= 0.5, shares
    assert 0.05 <= shares["disqualified"] <= 0.10, shares


def test_generation_is_fast_enough() -> None:
    began = time.perf_counter()
    events = generate(5000, 9)
    assert len(events) > 5000
    assert time.perf_counter() - began < 10
