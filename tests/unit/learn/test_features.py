"""Candidate signals from the base ruleset and the contract, the split, and the features."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.core.events import LeadEvent
from streams.core.ruleset import load_ruleset
from streams.learn.features import candidates, feature_rows, held_out, probe, split


def event(event_id: str, etype: str, **properties: object) -> LeadEvent:
    return LeadEvent(
        event_id=event_id,
        type=etype,
        lead_id="lead-1",
        anonymous_id=None,
        occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
        properties=properties,
    )


def test_candidates_are_the_base_signals_then_what_the_contract_adds() -> None:
    base = load_ruleset("default")
    cands = candidates(base)
    ids = [c.id for c in cands]
    assert ids[: len(base.signals)] == list(base.signals)
    assert all(c.from_base for c in cands[: len(base.signals)])
    derived = {c.id: c for c in cands if not c.from_base}
    # Enumerated property values of the contract, one candidate each ...
    assert derived["meeting_held_demo"].signal.match[0].tests == {"kind": "demo"}
    assert derived["call_completed_disposition_proposal_requested"].signal.match[0].type == (
        "call_completed"
    )
    assert "form_submit_proposal_request" in derived
    assert "page_view_blog" in derived
    # ... but not what a base pattern already says (no weight split among a signal's parts),
    assert "form_submit_demo_request" not in derived  # demo_request's pattern
    assert "content_download_template" not in derived  # gated_content's list
    assert "webinar_registration" not in derived  # the base's signal of that name
    # and nothing for events that say nothing about the lead.
    assert not any(c.signal.match[0].type in ("email_sent", "identify") for c in cands)
    assert len(set(ids)) == len(ids)


def test_features_use_the_cores_matching_and_count_an_event_id_once() -> None:
    base = load_ruleset("default")
    cands = candidates(base)
    qualifier = probe(base, cands)
    events = [
        event("e1", "form_submit", form="demo_request"),
        event("e1", "form_submit", form="demo_request"),
        event("e2", "meeting_held", kind="demo", duration_s=1800),
        event("e3", "page_view", url="https://x.example/pricing", category="pricing"),
    ]
    [row] = feature_rows(qualifier, {"lead-1": events}, ["lead-1"])
    assert row == {"demo_request", "meeting_held_demo", "rep_conversation", "pricing_page_view"}


def test_the_split_is_seeded_by_lead_id_and_stable() -> None:
    leads = [f"lead-{i}" for i in range(2000)]
    train, hold = split(leads, seed=1, share=0.3)
    assert sorted(train + hold) == sorted(leads)
    assert 0.25 < len(hold) / len(leads) < 0.35
    assert split(leads, 1, 0.3) == (train, hold)
    assert split(leads, 2, 0.3)[1] != hold
    # A lead's side does not depend on which other leads the history holds.
    assert all(held_out(lead, 1, 0.3) for lead in hold)
    assert split(leads[:500], 1, 0.3)[1] == [lead for lead in hold if lead in set(leads[:500])]


def test_the_learner_imports_neither_faust_nor_kafka_clients() -> None:
    import subprocess
    import sys

    code = (
        "import sys, streams.learn.run, streams.learn.report;"
        "print([m for m in sys.modules if m.split('.')[0] in ('faust', 'aiokafka', 'mode')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
