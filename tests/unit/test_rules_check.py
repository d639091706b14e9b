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
    text = preset_texts()["default"]
    assert old in text
    broken = text.replace(old, new, 1)
    path = tmp_path / "rules.toml"
    path.write_text(broken)
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 1
    assert f"line {line_of(broken, new.strip())}:" in result.output
    assert expected in result.output


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
    assert result.exit_code == 1
    assert "line 2" in result.output
    assert "Traceback" not in result.output


def test_missing_file_is_one_clear_sentence() -> None:
    result = runner.invoke(app, ["rules", "check", "/no/such/rules.toml"])
    assert result.exit_code == 1
    assert "no such preset or file" in result.output
