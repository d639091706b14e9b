"""Every preset against every example of the source article, positive and negative."""

from __future__ import annotations

import itertools

import pytest

from streams.core.qualify import Qualifier
from streams.core.ruleset import PRESETS, load_ruleset
from streams.tools.scenarios import SCENARIOS, Scenario, lead_events


def transitions(scenario: Scenario, preset: str | None = None) -> list[tuple[str, str]]:
    qualifier = Qualifier(load_ruleset(preset or scenario.preset))
    _, changes = qualifier.fold(lead_events(scenario.steps), key="lead")
    return [(c.from_stage, c.to_stage) for c in changes]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_yields_expected_stage_changes(scenario: Scenario) -> None:
    assert transitions(scenario) == list(scenario.expected)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_changes_are_contiguous_explained_and_evidenced(scenario: Scenario) -> None:
    events = lead_events(scenario.steps)
    ids = {e.event_id for e in events}
    _, changes = Qualifier(load_ruleset(scenario.preset)).fold(events, key="lead")
    assert [c.sequence for c in changes] == list(range(1, len(changes) + 1))
    for change in changes:
        assert change.change_id == f"lead:{change.sequence}"
        assert change.reasons, "every change says why"
        assert all(r.description for r in change.reasons)
        assert set(change.evidence) <= ids
        assert change.trigger_event_id in ids
        assert change.ruleset_name == scenario.preset
        assert set(change.scores) == {"engagement", "fit"}
        assert (change.disqualification_reason is not None) == (change.to_stage == "disqualified")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
@pytest.mark.parametrize("preset", PRESETS)
def test_never_sqo_before_sql_under_any_preset(scenario: Scenario, preset: str) -> None:
    seen = ["lead"]
    for from_stage, to_stage in transitions(scenario, preset):
        assert from_stage == seen[-1]
        if to_stage == "sqo":
            assert "sql" in seen
        seen.append(to_stage)


@pytest.mark.parametrize(
    "scenario",
    [s for s in SCENARIOS if len(s.steps) <= 4],
    ids=lambda s: s.name,
)
def test_final_stage_does_not_depend_on_arrival_order(scenario: Scenario) -> None:
    qualifier = Qualifier(load_ruleset(scenario.preset))
    events = lead_events(scenario.steps)
    finals = {
        qualifier.fold(order, key="lead")[0].stage for order in itertools.permutations(events)
    }
    assert len(finals) == 1


def test_newsletter_signup_alone_is_not_an_sqo_under_any_preset() -> None:
    steps = (SCENARIOS[2].steps[0],)
    for preset in PRESETS:
        state, _ = Qualifier(load_ruleset(preset)).fold(lead_events(steps), key="lead")
        assert state.stage in ("lead", "sql")


def test_sqo_example_of_software_company_is_not_sqo_without_a_conversation() -> None:
    from streams.tools.scenarios import scenario

    demo = scenario("software-demo-sqo")
    without_call = demo.steps[:2]
    state, changes = Qualifier(load_ruleset("default")).fold(lead_events(without_call), key="lead")
    assert state.stage == "sql"
    assert [c.to_stage for c in changes] == ["sql"]
