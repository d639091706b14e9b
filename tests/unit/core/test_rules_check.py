"""`leadq rules check`: presets pass; mistakes are explained with their line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.core.ruleset import (
    PRESETS,
    RulesetError,
    load_ruleset,
    parse_ruleset,
    preset_texts,
)

runner = CliRunner()


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_checks_ok(preset: str) -> None:
    result = runner.invoke(app, ["rules", "check", preset])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"ok: ruleset {preset}")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'match = [{ type = "form_submit", form = "contact" }]',
            'match = [{ type = "form_submit", from = "contact" }]',
            "event type 'form_submit' has no property 'from'",
        ),
        ("points = 25\n", 'points = "lots"\n', "points must be a number, not the text 'lots'"),
        (
            'when = { signal = "opted_out" }',
            'when = { signall = "opted_out" }',
            "a condition needs one of the keys",
        ),
        (
            'match = [{ type = "newsletter_signup" }]',
            'match = [{ type = "newsletter_signed_up" }]',
            "unknown event type 'newsletter_signed_up'",
        ),
    ],
)
def test_a_mistake_is_reported_at_its_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert_reported_at_its_line(tmp_path, "default", old, new, expected)


def test_unknown_signal_reference_is_named() -> None:
    text = preset_texts()["agency"].replace(
        '{ signal = "proposal_request" },', '{ signal = "proposl" },', 1
    )
    with pytest.raises(RulesetError, match="unknown signal 'proposl'"):
        parse_ruleset(text)


def test_toml_syntax_errors_give_the_position(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('name = "x"\nversion = \n')
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    assert "line 2" in result.output
    assert "Traceback" not in result.output


def test_missing_file_is_one_clear_sentence() -> None:
    result = runner.invoke(app, ["rules", "check", "/no/such/rules.toml"])
    assert result.exit_code == 2
    assert "no such preset or file" in result.output


@pytest.mark.parametrize(
    ("preset", "old", "new", "expected"),
    [
        ("startup", 'within = "7d"', 'within = "7 days"', "is not a duration"),
        ("startup", 'half_life = "14d"', 'half_life = "soon"', "is not a duration"),
        ("agency", "below = 20", "below = -5", "greater than 0"),
        ("default", 'late_events = "accept"', 'late_events = "drop"', "'accept' or 'dead_letter'"),
        (
            "default",
            'in_list = "competitors"',
            'in_list = "rivals"',
            "unknown list 'rivals'",
        ),
        (
            "default",
            'when = { signal = "hard_bounce" }',
            'when = { signal = "hard_bounced" }',
            "unknown signal 'hard_bounced'",
        ),
        ("consultancy", 'cooldown = "90d"', 'cooldown = "3 months"', "is not a duration"),
    ],
)
def test_mistakes_in_time_and_negative_rules_are_reported_at_their_line(
    tmp_path: Path, preset: str, old: str, new: str, expected: str
) -> None:
    assert_reported_at_its_line(tmp_path, preset, old, new, expected)


def test_demotion_without_decay_is_reported_at_the_demotion_table(tmp_path: Path) -> None:
    text = preset_texts()["startup"].replace('half_life = "14d"\n', "")
    path = tmp_path / "rules.toml"
    path.write_text(text)
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    assert f"line {line_of(text, '[demotion]')}:" in result.output
    assert "engagement.half_life" in result.output


def assert_reported_at_its_line(
    tmp_path: Path, preset: str, old: str, new: str, expected: str
) -> None:
    """`leadq rules check` on the preset with `old` replaced by `new` fails, naming the
    line of the change and the expected message."""
    text = preset_texts()[preset]
    assert old in text
    broken = text.replace(old, new, 1)
    path = tmp_path / "rules.toml"
    path.write_text(broken)
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    assert f"line {line_of(broken, new.strip())}:" in result.output
    assert expected in result.output


# ----------------------------------------------------------------------------- plain words

LIBRARY_WORDING = ("Value error", "Input should", "String should", "Field required", "Extra inputs")


@pytest.mark.parametrize(
    ("preset", "old", "new", "expected"),
    [
        (
            "default",
            '{ signal = "pricing_request" },',
            '{ signal = "pricing_requst" },',
            "sql criteria: unknown signal 'pricing_requst' (did you mean 'pricing_request'?)",
        ),
        (
            "default",
            '{ signal = "rep_conversation" }] }',
            '{ signal = "rep_convresation" }] }',
            "sqo criteria: unknown signal 'rep_convresation' (did you mean 'rep_conversation'?)",
        ),
        (
            "default",
            'when = { signal = "hard_bounce" }',
            'when = { signal = "hard_bounced" }',
            "disqualifier 'unreachable': unknown signal 'hard_bounced'"
            " (did you mean 'hard_bounce'?)",
        ),
        (
            "default",
            "[signals.pricing_page_view]",
            "[signals.Pricing-View]",
            "signal id 'Pricing-View' must be lower case letters, digits and underscores,"
            " starting with a letter",
        ),
        (
            "default",
            'reason = "no_budget"',
            'reason = "No budget"',
            "disqualifier 1: reason 'No budget' must be lower case letters, digits and"
            " underscores, starting with a letter",
        ),
        (
            "default",
            "max_points = 15",
            "max_pionts = 15",
            "signal 'pricing_page_view': unknown key 'max_pionts' (did you mean 'max_points'?)",
        ),
        (
            "default",
            'match = [{ type = "form_submit", form = "contact" }]',
            'match = [{ type = "form_submit", from = "contact" }]',
            "signal 'contact_form' match #1: event type 'form_submit' has no property 'from'"
            " (did you mean 'form'?)",
        ),
        (
            "default",
            'description = "Asked for pricing"\n',
            "",
            "signal 'pricing_request': description is missing",
        ),
        (
            "default",
            'version = "1.1"',
            "version = 1.1",
            "version must be text in quotes, not 1.1",
        ),
        (
            "default",
            'late_events = "accept"',
            'late_events = "drop"',
            "late_events must be 'accept' or 'dead_letter', not the text 'drop'",
        ),
        (
            "default",
            "points = 30\n",
            'points = "30"\n',
            "signal 'demo_request': points must be a number, not the text '30'",
        ),
        (
            "default",
            "requalify = false",
            'requalify = "no"',
            "requalify must be true or false, not the text 'no'",
        ),
        ("agency", "below = 20", "below = -5", "demotion: below must be greater than 0, not -5"),
        (
            "default",
            'when = { signal = "opted_out" }',
            'when = { signall = "opted_out" }',
            "disqualifier 'opted_out' when: a condition needs one of the keys signal, score,"
            " profile, all, any, not (did you mean 'signal'?)",
        ),
        (
            "default",
            'when = { profile = "email_domain", in_list = "free_mail" }',
            'when = { profil = "email_domain", in_list = "free_mail" }',
            "fit rule 'free_mail' when: a condition needs one of the keys profile, all, any"
            " (did you mean 'profile'?)",
        ),
        (
            "default",
            'when = { profile = "email_domain", in_list = "free_mail" }',
            'when = { profile = "email_domian", in_list = "free_mail" }',
            "fit rule 'free_mail' when: unknown profile field 'email_domian'"
            " (did you mean 'email_domain'?)",
        ),
        (
            "default",
            "[stages.sqo]",
            "[stages.sqox]",
            "stages: 'sqox' is not allowed here; use 'sql'",
        ),
        ("default", 'name = "default"', 'name = ""', "name must not be empty"),
        (
            "default",
            'match = [{ type = "webinar_attended" }]',
            'match = [{ type = "page_view", url = { gte = "x" } }]',
            "signal 'webinar_attended' match #1: property 'url': a comparison is a table of"
            " numbers such as { gte = 10 }",
        ),
    ],
)
def test_problems_are_said_in_plain_words_at_their_line(
    tmp_path: Path, preset: str, old: str, new: str, expected: str
) -> None:
    text = preset_texts()[preset]
    assert old in text
    broken = text.replace(old, new, 1)
    path = tmp_path / "rules.toml"
    path.write_text(broken)
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    # The changed line; for the removed description, the table it was in.
    needle = new.strip() or "[signals.pricing_request]"
    problems = result.output.splitlines()[1:]
    assert len(problems) == 1, result.output
    assert problems[0].startswith(f"  line {line_of(broken, needle)}: {expected}"), result.output
    for words in LIBRARY_WORDING:
        assert words not in result.output


def test_an_unknown_event_type_names_the_closest_and_the_valid_ones() -> None:
    text = preset_texts()["default"].replace(
        'match = [{ type = "newsletter_signup" }]', 'match = [{ type = "newsletter_signed_up" }]'
    )
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text)
    (problem,) = info.value.problems
    assert "unknown event type 'newsletter_signed_up' (did you mean 'newsletter_signup'?)" in (
        problem
    )
    assert "the event types are page_view, content_download," in problem


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("points = 30\n", 'points = "30"\n'),
        ("requalify = false", 'requalify = "no"'),
        ("max_points = 15", 'max_points = "15"'),
        ("gte = 40", 'gte = "40"'),
        ('reason = "no_budget"', "reason = 7"),
    ],
)
def test_wrong_types_are_errors_not_converted(old: str, new: str) -> None:
    text = preset_texts()["default"]
    assert old in text
    with pytest.raises(RulesetError, match="must be"):
        parse_ruleset(text.replace(old, new, 1))


def test_a_whole_number_where_a_number_is_due_is_fine() -> None:
    text = preset_texts()["default"].replace("max_points = 15", "max_points = 15.5")
    assert parse_ruleset(text).signals["pricing_page_view"].max_points == 15.5
    assert parse_ruleset(preset_texts()["default"]).signals["demo_request"].points == 30.0


def test_a_directory_is_not_a_ruleset(tmp_path: Path) -> None:
    with pytest.raises(RulesetError, match="is a directory"):
        load_ruleset(str(tmp_path))


def test_a_whole_ruleset_problem_points_at_the_key_it_names(tmp_path: Path) -> None:
    text = preset_texts()["default"].replace(
        "requalify = false", 'requalify = false\ncooldown = "1d"'
    )
    path = tmp_path / "rules.toml"
    path.write_text(text)
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    assert f"  line {line_of(text, 'cooldown =')}: cooldown only applies with requalify = true" in (
        result.output
    )


SLA_HOURS = (
    'business_hours = { days = ["mon", "tue", "wed", "thu", "fri"], start = "09:00",'
    ' end = "17:00", timezone = "Europe/Amsterdam" }'
)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'within = "4h"',
            'within = "4 hours"',
            "[sla.sql] within: '4 hours' is not a duration; write e.g. '7d', '24h', '30m' or '90s'",
        ),
        ('within = "4h"', 'within = "0h"', "[sla.sql]: within must be greater than 0, not 0"),
        (
            'worked_by = ["call_completed", "meeting_held"]',
            'worked = ["call_completed", "meeting_held"]',
            "[sla.sql]: unknown key 'worked' (did you mean 'worked_by'?)",
        ),
        (
            'warn_before = "1h"',
            'warn_before = "5h"',
            "[sla.sql] warn_before: warn_before (5h) must be shorter than within (4h)",
        ),
        (
            'worked_by = ["call_completed", "meeting_held"]',
            'worked_by = ["call_complete"]',
            "[sla.sql] worked_by: unknown event type 'call_complete'"
            " (did you mean 'call_completed'?); the event types are page_view,",
        ),
        (
            'timezone = "Europe/Amsterdam"',
            'timezone = "Europe/Amsterdm"',
            "[sla.sql] business_hours timezone: unknown time zone 'Europe/Amsterdm'"
            " (did you mean 'Europe/Amsterdam'?)",
        ),
        (
            'start = "09:00"',
            'start = "18:00"',
            "[sla.sql] business_hours: start (18:00) must be earlier than end (17:00)",
        ),
        (
            'end = "17:00"',
            'end = "5pm"',
            "[sla.sql] business_hours end: '5pm' is not a time of day; write it as HH:MM",
        ),
        (
            'days = ["mon", "tue",',
            'days = ["mon", "mon",',
            "[sla.sql] business_hours days: mon given more than once",
        ),
        (
            'days = ["mon", "tue",',
            'days = ["monday", "tue",',
            "[sla.sql] business_hours days: unknown day 'monday' (did you mean 'mon'?);"
            " the days are mon, tue, wed, thu, fri, sat, sun",
        ),
    ],
)
def test_sla_mistakes_are_said_in_plain_words_at_their_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    text = preset_texts()["default"]
    start = text.index("[sla.sql]")
    assert old in text[start:]
    broken = text[:start] + text[start:].replace(old, new, 1)
    path = tmp_path / "rules.toml"
    path.write_text(broken)
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    changed = start + broken[start:].index(new)
    line = broken.count("\n", 0, changed) + 1
    problems = result.output.splitlines()[1:]
    assert len(problems) == 1, result.output
    assert problems[0].startswith(f"  line {line}: {expected}"), result.output
    for words in LIBRARY_WORDING:
        assert words not in result.output


def test_a_ruleset_may_have_no_sla_or_an_sqo_sla_too() -> None:
    text = preset_texts()["default"]
    without = text[: text.index("[sla.sql]")]
    assert parse_ruleset(without).sla is None
    sqo = '\n[sla.sqo]\nwithin = "2d"\n' + SLA_HOURS + "\n"
    sla = parse_ruleset(text + sqo).sla
    assert sla is not None
    assert sla.sqo is not None
    assert sla.sqo.within == 2 * 86_400_000
    assert sla.sqo.worked_by == ["call_completed", "meeting_held"]
