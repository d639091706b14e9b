"""TOML values as the presets write them, and notes that say where numbers came from."""

from __future__ import annotations

import tomllib

import pytest

from streams.learn.fit import SignalFit
from streams.learn.threshold import Threshold
from streams.learn.write import signal_note, sql_criteria, threshold_text, value


@pytest.mark.parametrize(
    "data",
    [
        {"a": 'quote " and \\ and é\n'},
        {"a": [1, 2.5, True, "x"]},
        {"a": {"score": "engagement", "gte": 45.0}},
        {"a": {"any": [{"signal": "x"}, {"all": [{"signal": "y"}, {"signal": "z"}]}]}},
        {"a": [{"type": "page_view", "category": "pricing"}, {"type": "meeting_held"}]},
        {"a": {"duration_s": {"gte": 120}, "not": {"profile": "seniority", "in": ["vp"]}}},
        {"a": 1e12},
    ],
)
def test_values_read_back_as_written(data: dict[str, object]) -> None:
    text = "\n".join(f"{k} = {value(v)}" for k, v in data.items())
    assert tomllib.loads(text) == data


def test_integral_floats_are_written_as_integers() -> None:
    assert value(45.0) == "45"
    assert value(2.5) == "2.5"


def test_notes() -> None:
    fit = SignalFit("demo", leads=712, converted=120, lift=2.3, coefficient=0.84, points=30)
    assert signal_note(fit) == "lift 2.3 on 712 training leads (coefficient 0.84)"
    unfit = SignalFit("x", leads=50, converted=0, lift=0.0, coefficient=-0.5, points=0)
    assert signal_note(unfit).startswith("no points: lift 0.0")
    assert signal_note(None).startswith("no points: in fewer than")
    t = Threshold(score=45, reached=300, converted=90, recall=0.31, precision=0.3)
    assert threshold_text(t, 2100) == (
        "SQL at engagement >= 45: recall 31.0%, precision 30.0% on 2,100 training leads"
        " (300 reach it, 90 of them converted)"
    )


def test_sql_criteria_keep_the_profile_requirements() -> None:
    keep = [{"not": {"profile": "seniority", "equals": "student"}}]
    assert sql_criteria(40, []) == {"score": "engagement", "gte": 40}
    assert sql_criteria(40, keep) == {"all": [{"score": "engagement", "gte": 40}, *keep]}
