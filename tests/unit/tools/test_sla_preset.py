"""A preset with a short SLA: the preset's rules unchanged, its own [sla] tables replaced."""

from __future__ import annotations

import pytest

from streams.core.ruleset import PRESETS, RulesetError, load_ruleset, parse_ruleset
from streams.tools.sla_preset import with_sla, without_sla


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_keeps_its_rules_and_gets_only_the_short_sql_sla(preset: str) -> None:
    quick = parse_ruleset(with_sla(preset, "3s", "1s"))
    original = load_ruleset(preset)
    assert quick.model_dump(exclude={"sla"}) == original.model_dump(exclude={"sla"})
    assert quick.sla is not None
    assert quick.sla.sqo is None
    assert quick.sla.sql.within == 3_000
    assert quick.sla.sql.warn_before == 1_000
    assert quick.sla.sql.business_hours is None
    assert quick.sla.sql.worked_by == ["call_completed", "meeting_held"]


def test_without_a_warning() -> None:
    quick = parse_ruleset(with_sla("default", "20s"))
    assert quick.sla is not None
    assert quick.sla.sql.warn_before is None


def test_the_comment_about_the_old_sla_goes_with_it() -> None:
    text = with_sla("default", "20s", "10s")
    assert "4 working hours" not in text
    assert "shortened to 20s" in text


def test_tables_after_an_sla_table_stay() -> None:
    text = '# keep\n[a]\nx = 1\n\n# about the SLA\n[sla.sql]\nwithin = "1h"\n[b]\ny = 2\n'
    assert without_sla(text) == "# keep\n[a]\nx = 1\n\n[b]\ny = 2\n"


def test_a_warning_not_shorter_than_the_sla_is_refused() -> None:
    with pytest.raises(RulesetError, match="warn_before"):
        with_sla("default", "3s", "3s")
