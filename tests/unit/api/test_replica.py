"""The api's read model: the latest per key from three topics, whichever is ahead, and the
lookup built from it by the core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.api.replica import MAX_CHANGES, MAX_RECENT, BadRecord, Replica, lookup
from streams.core.events import StageChanged
from streams.core.ruleset import load_ruleset
from streams.core.state import LeadState
from streams.worker.codec import encode_lead_stage, encode_stage_change, encode_state
from tests.support.api import scenario_replica

RULES = load_ruleset("default")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMITTED = datetime(2026, 3, 10, tzinfo=UTC)
EMPTY = LeadState(key="L1").to_dict()


def change(lead: str, sequence: int, from_stage: str, to_stage: str) -> StageChanged:
    return StageChanged(
        lead_id=lead,
        sequence=sequence,
        from_stage=from_stage,  # type: ignore[arg-type]
        to_stage=to_stage,  # type: ignore[arg-type]
        occurred_at=T0 + timedelta(minutes=sequence),
        trigger_event_id=f"{lead}:e{sequence}",
        reasons=(),
        evidence=(),
        disqualification_reason="no_budget" if to_stage == "disqualified" else None,
        scores={"engagement": float(sequence), "fit": 0.0},
        ruleset_name="default",
        ruleset_version="1.1",
    )


def test_the_scenarios_give_each_lead_its_stage_and_the_funnel_its_counts() -> None:
    replica = scenario_replica(RULES)
    assert replica.stage_counts() == {"lead": 1, "sql": 1, "sqo": 1, "disqualified": 1}
    assert replica.reached_counts() == {"sql": 3, "sqo": 1}
    found = lookup(replica, RULES, "software-demo-sqo")
    assert found is not None
    assert (found["stage"], found["sequence"]) == ("sqo", 2)
    assert [c.sequence for c in found["changes"]] == [2, 1]  # newest first
    assert found["next"] is None  # nothing follows sqo
    assert found["ruleset"] == {"name": "default", "version": RULES.version}


def test_a_lead_without_stage_changes_is_a_lead_with_its_next_criteria() -> None:
    found = lookup(scenario_replica(RULES), RULES, "software-newsletter-only")
    assert found is not None
    assert (found["stage"], found["sequence"], found["since"]) == ("lead", 0, None)
    assert found["changes"] == []
    assert found["scores"]["engagement"] > 0
    assert found["next"]["stage"] == "sql"
    assert found["next"]["met"] == [
        {"rule": "not.profile.seniority", "description": "Not a student"}
    ]
    assert found["next"]["missing"][0]["description"].startswith("One of: ")


def test_an_unknown_lead_and_a_visitor_are_not_found() -> None:
    replica = scenario_replica(RULES)
    replica.apply_state(b"anon:v1", encode_state(LeadState(key="anon:v1")))
    assert lookup(replica, RULES, "nobody") is None
    assert lookup(replica, RULES, "anon:v1") is None
    assert sum(replica.stage_counts().values()) == 4


def test_whichever_topic_is_ahead_gives_the_stage() -> None:
    replica = Replica()
    state = LeadState(key="L1", stage="sql", sequence=1, stage_at_ms=0, clock_ms=0)
    replica.apply_state(b"L1", encode_state(state))
    assert replica.stage_counts()["sql"] == 1
    # The stage change to sqo is read before the state that goes with it.
    replica.apply_change(b"L1", encode_stage_change(change("L1", 2, "sql", "sqo"), EMITTED))
    assert replica.stage_counts() == {"lead": 0, "sql": 0, "sqo": 1, "disqualified": 0}
    # An older current stage changes nothing.
    replica.apply_lead_stage(b"L1", encode_lead_stage(change("L1", 1, "lead", "sql")))
    found = lookup(replica, RULES, "L1")
    assert found is not None
    assert (found["stage"], found["sequence"]) == ("sqo", 2)
    assert found["since"] == T0 + timedelta(minutes=2)
    replica.apply_lead_stage(b"L1", encode_lead_stage(change("L1", 3, "sqo", "disqualified")))
    found = lookup(replica, RULES, "L1")
    assert found is not None
    assert (found["stage"], found["disqualification_reason"]) == ("disqualified", "no_budget")
    assert replica.stage_counts()["disqualified"] == 1


def test_a_repeated_change_is_not_new_and_only_the_last_twenty_are_kept() -> None:
    replica = Replica()
    first = encode_stage_change(change("L1", 1, "lead", "sql"), EMITTED)
    assert replica.apply_change(b"L1", first) is not None
    assert replica.apply_change(b"L1", first) is None  # a re-emission after a fault
    for sequence in range(2, 31):
        to_stage = "lead" if sequence % 2 == 0 else "sql"
        from_stage = "sql" if to_stage == "lead" else "lead"
        replica.apply_change(
            b"L1", encode_stage_change(change("L1", sequence, from_stage, to_stage), EMITTED)
        )
    found = lookup(replica, RULES, "L1")
    assert found is not None
    assert [c.sequence for c in found["changes"]] == list(range(30, 30 - MAX_CHANGES, -1))
    assert len(replica.recent_changes(MAX_RECENT)) == 30
    assert replica.recent_changes(3)[0].sequence == 30


def test_tombstones_forget_and_the_counts_follow() -> None:
    replica = Replica()
    replica.apply_state(b"L1", encode_state(LeadState(key="L1")))
    replica.apply_lead_stage(b"L2", encode_lead_stage(change("L2", 1, "lead", "sql")))
    assert replica.stage_counts() == {"lead": 1, "sql": 1, "sqo": 0, "disqualified": 0}
    replica.apply_state(b"L1", None)
    replica.apply_lead_stage(b"L2", None)
    assert replica.stage_counts() == {"lead": 0, "sql": 0, "sqo": 0, "disqualified": 0}
    assert replica.leads == {}


@pytest.mark.parametrize(
    ("topic", "key", "value"),
    [
        ("state", b"L1", b"{not json"),
        ("state", b"L1", b"[1, 2]"),
        ("state", b"L1", orjson.dumps({**EMPTY, "stage": "won"})),
        ("state", b"L1", orjson.dumps({**EMPTY, "sequence": "1"})),
        ("state", None, encode_state(LeadState(key="L1"))),
        ("state", b"\xff", encode_state(LeadState(key="L1"))),
        ("stage", b"L1", b'{"lead_id": "L1"}'),
        ("change", b"L1", b'{"change_id": 5}'),
    ],
)  # fmt: skip
def test_a_record_it_cannot_use_is_refused_and_changes_nothing(
    topic: str, key: bytes | None, value: bytes
) -> None:
    replica = scenario_replica(RULES)
    before = (replica.stage_counts(), set(replica.leads))
    apply = {
        "state": replica.apply_state,
        "stage": replica.apply_lead_stage,
        "change": replica.apply_change,
    }[topic]
    with pytest.raises(BadRecord):
        apply(key, value)
    assert (replica.stage_counts(), set(replica.leads)) == before


def test_scores_and_next_come_from_the_state_by_the_apis_ruleset() -> None:
    replica = scenario_replica(RULES)
    found = lookup(replica, RULES, "software-ebook-sql")
    assert found is not None
    assert found["next"]["stage"] == "sqo"
    assert found["scores"] == {"engagement": 15.0, "fit": 0.0}
    # Without the state (another app id's changelog, say): the latest change's scores.
    replica.apply_state(b"software-ebook-sql", None)
    found = lookup(replica, RULES, "software-ebook-sql")
    assert found is not None
    assert found["next"] is None
    assert found["scores"] == dict(found["changes"][0].scores)


def test_a_state_that_cannot_be_read_in_full_leaves_the_lookup_without_it() -> None:
    replica = Replica()
    replica.apply_state(b"L1", orjson.dumps({"key": "L1", "stage": "lead", "sequence": 0}))
    found = lookup(replica, RULES, "L1")
    assert found is not None
    assert (found["stage"], found["scores"], found["next"]) == ("lead", {}, None)


RECORDS = st.tuples(
    st.sampled_from(["state", "stage", "change", "state-tombstone", "stage-tombstone"]),
    st.sampled_from(["L1", "L2", "anon:v"]),
    st.integers(0, 3),
)


@given(st.lists(RECORDS, max_size=25))
def test_the_counts_always_match_the_leads_whatever_the_order(
    records: list[tuple[str, str, int]],
) -> None:
    """Whatever order the three topics' records arrive in, the funnel's counts are each
    known lead's current stage, and a lead's stage is that of its highest sequence."""
    stages = ["lead", "sql", "sqo", "disqualified"]
    replica = Replica()
    for kind, lead, sequence in records:
        key = lead.encode()
        stage = stages[sequence]
        if kind == "state":
            state = LeadState(key=lead, stage=stage, sequence=sequence)  # type: ignore[arg-type]
            replica.apply_state(key, encode_state(state))
        elif kind == "state-tombstone":
            replica.apply_state(key, None)
        elif kind == "stage-tombstone":
            replica.apply_lead_stage(key, None)
        elif sequence > 0 and not lead.startswith("anon:"):
            record = change(lead, sequence, stages[sequence - 1], stage)
            if kind == "stage":
                replica.apply_lead_stage(key, encode_lead_stage(record))
            else:
                replica.apply_change(key, encode_stage_change(record, EMITTED))
    current: dict[str, str] = {}
    for lead_id in replica.leads:
        parts = replica.parts(lead_id)
        assert parts is not None
        current[lead_id] = parts.stage
    assert replica.stage_counts() == {s: list(current.values()).count(s) for s in stages}
    assert "anon:v" not in current
