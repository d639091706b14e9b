"""`leadq run --shadow` and `leadq shadow report` on the command line: output and exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import streams.tools.read_topics
from streams.settings import Settings
from streams.tools.read_topics import MissingTopic
from tests.unit.test_cli import UNREACHABLE, assert_one_line_error, invoke

ACTIVE = {"change_id": "a:1", "lead_id": "a", "sequence": 1, "to_stage": "sql"}
SHADOW = {"change_id": "b:1:shadow", "lead_id": "b", "sequence": 1, "to_stage": "sqo"}


def topics_holding(active: list[Any], shadow: list[Any]) -> Any:
    async def read(settings: Settings, topics: list[str]) -> dict[str, list[Any]]:
        return dict(zip(topics, [active, shadow], strict=True))

    return read


def with_ruleset(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {**record, "ruleset": {"name": name, "version": "1"}}


def test_run_rejects_an_unknown_shadow_ruleset() -> None:
    code, out, err = invoke(["run", "--shadow", "no-such-preset"])
    assert_one_line_error(code, out, err, 2, "no such preset or file")
    code, out, err = invoke(["run"], LEADQ_SHADOW_RULES="no-such-preset")
    assert_one_line_error(code, out, err, 2, "no such preset or file")


def test_shadow_report_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = invoke(["shadow", "report"], KAFKA_BOOTSTRAP_SERVERS=UNREACHABLE)
    assert_one_line_error(code, out, err, 1, "cannot use Kafka")
    code, out, err = invoke(["shadow", "report", "--list", "-1"])
    assert_one_line_error(code, out, err, 2, "--list")
    code, out, err = invoke(["shadow", "report", "--outcomes", str(tmp_path / "missing.csv")])
    assert_one_line_error(code, out, err, 2, "does not exist")
    bad = tmp_path / "bad.csv"
    bad.write_text("lead_id,outcome\nonly-a-lead\n")
    code, out, err = invoke(["shadow", "report", "--outcomes", str(bad)])
    assert_one_line_error(code, out, err, 2, "expected `lead_id,outcome`")

    async def missing(settings: Settings, topics: list[str]) -> dict[str, list[Any]]:
        raise MissingTopic(topics[1])

    monkeypatch.setattr(streams.tools.read_topics, "read_json_topics", missing)
    code, out, err = invoke(["shadow", "report"])
    assert_one_line_error(code, out, err, 2, "leads.shadow-stage-changes does not exist")
    monkeypatch.setattr(
        streams.tools.read_topics, "read_json_topics", topics_holding([{"x": 1}], [])
    )
    code, out, err = invoke(["shadow", "report"])
    assert_one_line_error(code, out, err, 2, "not a stage change")


def test_shadow_report_prints_json_or_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    active, shadow = with_ruleset(ACTIVE, "default"), with_ruleset(SHADOW, "startup")
    monkeypatch.setattr(
        streams.tools.read_topics, "read_json_topics", topics_holding([active], [shadow])
    )
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("lead_id,outcome\na,won\nb,lost\n")
    code, out, err = invoke(["shadow", "report", "--json", "--outcomes", str(outcomes)])
    assert code == 0, err
    body = orjson.loads(out)
    assert body["differences"]["count"] == 2
    assert body["outcomes"]["stages"]["sql"]["active"]["precision"] == 1.0
    assert body["outcomes"]["stages"]["sqo"]["shadow"]["precision"] == 0.0
    code, out, err = invoke(["shadow", "report"])
    assert code == 0, err
    assert "active: default 1 (1 changes, 1 leads); shadow: startup 1" in out
    assert "a: sql → lead" in out
