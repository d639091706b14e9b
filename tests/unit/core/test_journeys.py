"""The offline replay in the core: grouping, identity attribution and event-time order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from streams.backtest.parallel import journeys_in_parallel
from streams.core.events import LeadEvent
from streams.core.journeys import group_by_lead, journeys_of_history
from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
QUALIFIER = Qualifier(load_ruleset("default"))


def ev(
    eid: str,
    etype: str,
    minute: int,
    lead: str | None = None,
    anon: str | None = None,
    **props: object,
) -> LeadEvent:
    when = T0 + timedelta(minutes=minute)
    return LeadEvent(eid, etype, when, lead_id=lead, anonymous_id=anon, properties=props)


EBOOK = {"asset": "Playbook", "asset_type": "ebook"}


@pytest.mark.parametrize("identify_at", [-5, 5, 60])
def test_anonymous_download_counts_once_identified(identify_at: int) -> None:
    events = [
        ev("a-1", "page_view", 0, anon="v1", url="u"),
        ev("a-2", "content_download", 10, anon="v1", **EBOOK),
        ev("id", "identify", identify_at, lead="L1", anon="v1"),
    ]
    for order in itertools.permutations(events):
        outcome = journeys_of_history(QUALIFIER, order)["L1"]
        assert outcome.final_stage == "sql"
        assert outcome.first_event_ms == int(
            (T0 + timedelta(minutes=min(0, identify_at))).timestamp() * 1000
        )
        assert outcome.reached_ms["sql"] == int((T0 + timedelta(minutes=10)).timestamp() * 1000)
        assert outcome.events == 3


def test_a_visitor_identified_as_two_leads_is_reported_not_merged() -> None:
    events = [
        ev("a-1", "content_download", 0, anon="v1", **EBOOK),
        ev("id-1", "identify", 5, lead="L1", anon="v1"),
        ev("id-2", "identify", 6, lead="L2", anon="v1"),
        ev("b-1", "page_view", 1, anon="v2", url="u"),
    ]
    history = group_by_lead(events)
    assert history.conflicting_visitors == ("v1",)
    assert history.unattributed_events == 2
    assert sorted(history.by_lead) == ["L1", "L2"]
    assert {o.final_stage for o in journeys_of_history(QUALIFIER, events).values()} == {"lead"}


def test_ties_in_event_time_break_by_event_id_and_duplicates_count_once() -> None:
    # Both at minute 0: "x-1" (the download) is applied before "x-2" (the unsubscribe).
    events = [
        ev("x-2", "email_unsubscribed", 0, lead="L1"),
        ev("x-1", "content_download", 0, lead="L1", **EBOOK),
        ev("x-1", "content_download", 0, lead="L1", **EBOOK),
    ]
    outcome = journeys_of_history(QUALIFIER, events)["L1"]
    assert outcome.final_stage == "disqualified"
    assert set(outcome.reached_ms) == {"sql", "disqualified"}


def test_parallel_replay_equals_the_pure_function() -> None:
    events = [
        ev(f"{lead}-{i}", "content_download", i, lead=lead, **EBOOK)
        for lead in "ABCDEFG"
        for i in range(3)
    ]
    pure = journeys_of_history(QUALIFIER, events)
    (parallel,) = journeys_in_parallel([QUALIFIER], group_by_lead(events).by_lead, workers=2)
    assert parallel == pure
