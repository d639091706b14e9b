"""`leadq rules check`: presets pass; mistakes are explained with their line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.core.ruleset import PRESETS, RulesetError, parse_ruleset, preset_texts

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
        ("points = 25\n", 'points = "lots"\n', "valid number"),
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
