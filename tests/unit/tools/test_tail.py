"""leadq tail's lines for a person: stage changes, SLA events, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.core.state import LeadState
from streams.tools.scenarios import lead_events, scenario
from streams.tools.tail import FORMATS, TOPICS, format_sla
from streams.worker.codec import outgoing_sla, sla_event_dict

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def test_every_topic_has_a_format() -> None:
    assert set(FORMATS) == set(TOPICS)
    assert TOPICS["sla"] == "leads.sla"


def test_an_sla_breach_in_one_line() -> None:
    s = scenario("software-ebook-sql").for_lead("L-7")
    q = Qualifier(load_ruleset(s.preset))
    state = LeadState(key="L-7")
    for event in lead_events(s.steps):
        state = q.process(state, event).state
    due = q.next_due_ms(state)
    assert due is not None
    [*_, breach] = q.tick(state, due + 24 * 3_600_000).sla
    record = orjson.loads(outgoing_sla(b"L-7", breach, "leadq/leadq", WHEN).value)
    assert record == sla_event_dict(breach, WHEN)
    line = format_sla(record)
    assert line.startswith("L-7: SLA breached in sql (due ")
    assert record["due_at"] in line
    assert "within 4h" in line
    warning = format_sla(record | {"kind": "warning"})
    assert warning.startswith("L-7: SLA warning in sql")
