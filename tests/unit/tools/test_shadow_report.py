"""The shadow report's comparison, from lists of stage-change records."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from streams.backtest.outcomes import Outcomes
from streams.settings import Settings
from streams.tools.shadow_report import ShadowReportError, compare, render, summarise, to_json
from streams.worker.shadow import shadow_change_id
from streams.worker.topics import TopicNames


def change(
    lead: str, sequence: int, to: str, ruleset: str = "default", shadow: bool = False
) -> dict[str, Any]:
    return {
        "change_id": shadow_change_id(lead, sequence) if shadow else f"{lead}:{sequence}",
        "lead_id": lead,
        "sequence": sequence,
        "to_stage": to,
        "ruleset": {"name": ruleset, "version": "1"},
    }


ACTIVE = [
    change("a", 1, "sql"),
    change("a", 2, "sqo"),
    change("a", 2, "sqo"),  # a re-emission: counts once
    change("b", 1, "sql"),
    change("c", 1, "disqualified"),
]
SHADOW = [
    change("a", 2, "sqo", "startup", True),  # out of order in the topic: by sequence
    change("a", 1, "sql", "startup", True),
    change("b", 1, "sql", "startup", True),
    change("b", 2, "sqo", "startup", True),
    change("d", 1, "sql", "startup", True),
]


def test_each_side_counts_leads_per_stage_reached_and_latest() -> None:
    side = summarise(ACTIVE)
    assert side.changes == 4
    assert side.rulesets == (("default", "1"),)
    assert {stage: sorted(leads) for stage, leads in side.reached.items()} == {
        "lead": [],
        "sql": ["a", "b"],
        "sqo": ["a"],
        "disqualified": ["c"],
    }
    assert side.latest == {"a": "sqo", "b": "sql", "c": "disqualified"}
    assert side.latest_of("nobody") == "lead"


def test_leads_whose_latest_stage_differs_are_listed_by_lead_id() -> None:
    report = compare(ACTIVE, SHADOW)
    assert report.leads == 4
    assert report.differences == [
        ("b", "sql", "sqo"),
        ("c", "disqualified", "lead"),  # no shadow change: still a lead under the shadow
        ("d", "lead", "sql"),
    ]
    assert report.scores is None
    body = to_json(report, listed=2)
    assert body["differences"] == {
        "count": 3,
        "leads": [
            {"lead_id": "b", "active": "sql", "shadow": "sqo"},
            {"lead_id": "c", "active": "disqualified", "shadow": "lead"},
        ],
    }
    assert body["active"]["reached"] == {"sql": 2, "sqo": 1, "disqualified": 1}
    assert body["shadow"]["reached"] == {"sql": 3, "sqo": 2, "disqualified": 0}
    assert body["shadow"]["latest"] == {"sql": 1, "sqo": 2, "disqualified": 0}
    assert body["shadow"]["rulesets"] == [{"name": "startup", "version": "1"}]
    assert body["outcomes"] is None


def test_outcomes_give_precision_recall_and_lift_per_stage() -> None:
    # Five leads known, two won (a, e): base rate 40 %. e never changed stage.
    outcomes = Outcomes(known=frozenset("abcde"), positive=frozenset("ae"))
    report = compare(ACTIVE, SHADOW, outcomes)
    scores = report.scores
    assert scores is not None
    assert (scores.leads, scores.converted, scores.base_rate) == (5, 2, 0.4)
    sql_active, sql_shadow = scores.active["sql"], scores.shadow["sql"]
    assert (sql_active.leads, sql_active.converted) == (2, 1)  # a, b
    assert sql_active.precision == 0.5
    assert sql_active.recall == 0.5
    assert sql_active.lift == 0.5 / 0.4
    assert (sql_shadow.leads, sql_shadow.converted) == (3, 1)  # a, b, d
    assert scores.shadow["sqo"].precision == 0.5  # a, b
    assert scores.active["sqo"].precision == 1.0  # a
    assert scores.shadow["disqualified"].precision is None  # nobody: undefined
    assert scores.shadow["disqualified"].lift is None
    assert scores.leads_without_outcome == 0
    stages = to_json(report)["outcomes"]["stages"]
    assert stages["sqo"]["active"]["lift"] == 2.5


def test_leads_outside_the_outcomes_are_not_scored() -> None:
    outcomes = Outcomes(known=frozenset({"a"}), positive=frozenset({"a"}))
    scores = compare(ACTIVE, SHADOW, outcomes).scores
    assert scores is not None
    assert scores.leads_without_outcome == 3  # b, c, d
    assert scores.active["sql"].leads == 1
    assert scores.base_rate == 1.0


def test_empty_topics_compare_as_nothing_yet() -> None:
    report = compare([], [])
    assert (report.leads, report.differences) == (0, [])
    assert to_json(report)["active"]["rulesets"] == []


def test_a_record_that_is_not_a_stage_change_is_an_error() -> None:
    with pytest.raises(ShadowReportError, match="not a stage change"):
        compare([{"lead_id": "a"}], [])


def test_the_table_names_both_rulesets_and_the_differences() -> None:
    console = Console(record=True, width=100)
    outcomes = Outcomes(known=frozenset("abcde"), positive=frozenset("ae"))
    render(compare(ACTIVE, SHADOW, outcomes), console, listed=1)
    text = console.export_text()
    assert "active: default 1 (4 changes, 3 leads); shadow: startup 1" in text
    assert "3 of 4 lead(s) whose latest stage differs" in text
    assert "b: sql → sqo" in text
    assert "… and 2 more" in text
    assert "base rate 40.0%" in text


def test_shadow_change_ids_never_take_the_form_of_an_active_one() -> None:
    # An active id is "{lead_id}:{sequence}": it ends in digits; a shadow id never does,
    # even for a lead id that looks like another lead's shadow id.
    assert shadow_change_id("x", 1) == "x:1:shadow"
    assert shadow_change_id("x", 1) != "x:shadow:1"
    assert not shadow_change_id("x:1", 1).rsplit(":", 1)[1].isdigit()


def test_the_shadow_topics_exist_only_for_a_deployment_with_a_shadow() -> None:
    plain = Settings(topic_prefix="p.")
    shadowed = Settings(topic_prefix="p.", shadow_rules="startup")
    names = TopicNames.of(plain)
    assert names.shadow_stage_changes == "p.leads.shadow-stage-changes"
    assert names.shadow_changelog == "p.leadq-lead-state-shadow-changelog"
    assert names.of_deployment(plain) == names.all()
    assert names.of_deployment(shadowed) == [*names.all(), *names.shadow()]
    assert Settings(shadow_rules="").shadow_rules is None
