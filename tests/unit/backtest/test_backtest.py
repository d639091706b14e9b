"""`leadq backtest`: metrics with known answers, any input order, compare, JSON, plot, errors."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from streams.backtest.history import read_history
from streams.backtest.outcomes import read_outcomes
from streams.backtest.run import run_backtest
from streams.cli import app
from streams.tools.simulate.output import write_outcomes
from streams.tools.simulate.traffic import generate, simulated_outcomes

runner = CliRunner()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = 3600

# A: a download makes an SQL, a demo meeting an SQO, an unsubscribe disqualifies.
RULES_A = """
name = "a"
version = "1"

[signals.download]
description = "Downloaded something"
points = 10
match = [{ type = "content_download" }]

[signals.demo]
description = "Had a demo"
points = 40
match = [{ type = "meeting_held", kind = "demo" }]

[signals.opted_out]
description = "Opted out"
match = [{ type = "email_unsubscribed" }]

[stages.sql]
description = "Interested"
criteria = { signal = "download" }

[stages.sqo]
description = "Opportunity"
criteria = { signal = "demo" }

[[disqualify]]
reason = "opted_out"
description = "Opted out"
when = { signal = "opted_out" }
"""
# B: only a demo makes an SQL (and so, the same moment, an SQO).
RULES_B = RULES_A.replace('name = "a"', 'name = "b"').replace(
    'criteria = { signal = "download" }', 'criteria = { signal = "demo" }'
)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def event(eid: str, etype: str, hours: float, lead: str | None, **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"event_id": eid, "type": etype, "occurred_at": at(hours)}
    if lead is not None:
        value["lead_id"] = lead
    return value | extra


def history() -> list[dict[str, Any]]:
    """Five leads; hand-computed stage times are in the tests below."""
    page = {"properties": {"url": "https://x.example/blog"}}
    ebook = {"properties": {"asset": "Playbook", "asset_type": "ebook"}}
    demo = {"properties": {"kind": "demo"}}
    return [
        # L1: first event at 0 h, SQL at 1 h, SQO at 3 h; won.
        event("l1-1", "page_view", 0, "L1", **page),
        event("l1-2", "content_download", 1, "L1", **ebook),
        event("l1-3", "meeting_held", 3, "L1", **demo),
        # L2: SQL at 0 h, disqualified at 2 h; lost. A profile record (no `type`) too.
        event("l2-1", "content_download", 0, "L2", **ebook),
        {"lead_id": "L2", "updated_at": at(0.5), "seniority": "manager"},
        event("l2-2", "email_unsubscribed", 2, "L2"),
        # L3: never qualifies; won.
        event("l3-1", "page_view", 0, "L3", **page),
        # L4: an anonymous download at 0 h, identified at 0.5 h: SQL at 0 h; converted.
        event("l4-1", "content_download", 0, None, anonymous_id="v-1", **ebook),
        event("l4-2", "identify", 0.5, "L4", anonymous_id="v-1"),
        # L5: first event at 0 h, SQL at 4 h; missing from the outcomes (so lost).
        event("l5-1", "page_view", 0, "L5", **page),
        event("l5-2", "content_download", 4, "L5", topic="leads.website", **ebook),
        # A visitor who never identifies: counted, not attributed.
        event("v2-1", "page_view", 1, None, anonymous_id="v-2", **page),
    ]


OUTCOMES = "lead_id,outcome\nL1,won\nL2,lost\nL3,Won\nL4,converted\nL9,won\n"
BAD_LINES = [b"{not json", b'{"event_id": "x", "type": "teleported", "lead_id": "L1"}']


def write(tmp: Path, rows: Sequence[dict[str, Any] | bytes], name: str = "e") -> Path:
    path = tmp / f"{name}.jsonl"
    lines = [r if isinstance(r, bytes) else orjson.dumps(r) for r in rows]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a.toml").write_text(RULES_A)
    (tmp_path / "b.toml").write_text(RULES_B)
    (tmp_path / "outcomes.csv").write_text(OUTCOMES)
    rows: list[dict[str, Any] | bytes] = [*history()]
    return {
        "events": write(tmp_path, [*rows[:5], BAD_LINES[0], *rows[5:], BAD_LINES[1]]),
        "outcomes": tmp_path / "outcomes.csv",
        "a": tmp_path / "a.toml",
        "b": tmp_path / "b.toml",
    }


def backtest_json(files: dict[str, Path], *args: str, events: Path | None = None) -> Any:
    result = runner.invoke(
        app,
        [
            "backtest",
            "--events",
            str(events or files["events"]),
            "--outcomes",
            str(files["outcomes"]),
            "--rules",
            str(files["a"]),
            "--json",
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def test_metrics_match_a_hand_computed_history(files: dict[str, Path]) -> None:
    report = backtest_json(files)
    leads, converted = 5, 3  # L1..L5; L1, L3, L4 converted (L5 has no outcome)
    base = converted / leads
    assert report["leads"] == leads
    assert report["base_rate"] == pytest.approx(base)
    sql, sqo, dq = (report["stages"][s] for s in ("sql", "sqo", "disqualified"))
    # SQL: L1 (1 h after its first event), L2 (0), L4 (0), L5 (4 h); converted: L1, L4.
    assert sql["leads"] == 4
    assert sql["precision"] == pytest.approx(2 / 4)
    assert sql["recall"] == pytest.approx(2 / 3)
    assert sql["lift"] == pytest.approx((2 / 4) / base)
    assert sql["median_time_to_stage_s"] == pytest.approx((0 + 1 * HOUR) / 2)  # of 0,0,1h,4h
    # SQO: only L1, 3 h after its first event.
    assert (sqo["leads"], sqo["precision"], sqo["recall"]) == (1, 1.0, pytest.approx(1 / 3))
    assert sqo["lift"] == pytest.approx(1 / base)
    assert sqo["median_time_to_stage_s"] == 3 * HOUR
    # Disqualified: only L2 (lost), 2 h after its first event.
    assert (dq["leads"], dq["precision"], dq["recall"], dq["lift"]) == (1, 0.0, 0.0, 0.0)
    assert dq["median_time_to_stage_s"] == 2 * HOUR
    assert report["final_stages"] == {"lead": 1, "sql": 2, "sqo": 1, "disqualified": 1}
    inp = report["input"]
    assert inp["invalid"] == len(BAD_LINES)
    assert [(e["line"], e["code"]) for e in inp["invalid_examples"]] == [
        (6, "invalid_json"),
        (len(history()) + 2, "unknown_type"),
    ]
    assert inp["events"] == len(history())
    assert inp["unattributed_anonymous_events"] == 1
    assert inp["leads_without_outcome"] == 1  # L5
    assert inp["outcomes_without_events"] == 1  # L9


def test_any_order_gives_the_same_report(files: dict[str, Path], tmp_path: Path) -> None:
    expected = backtest_json(files)
    rows = history()
    for seed in range(3):
        random.Random(seed).shuffle(rows)
        shuffled = write(tmp_path, [*rows, *BAD_LINES], name=f"shuffled{seed}")
        got = backtest_json(files, events=shuffled)
        got["input"].pop("invalid_examples")
        want = dict(expected, input=dict(expected["input"]))
        want["input"].pop("invalid_examples")
        assert got == want


def test_compare_reports_both_and_the_leads_that_differ(files: dict[str, Path]) -> None:
    report = backtest_json(files, "--compare", str(files["b"]))
    assert report["ruleset"]["name"] == "a"
    assert report["compare"]["ruleset"] == {"name": "b", "version": "1"}
    # Under B only L1's demo qualifies: SQL = SQO = {L1}; L2 still opts out.
    assert report["compare"]["stages"]["sql"]["leads"] == 1
    assert report["compare"]["stages"]["sqo"]["leads"] == 1
    assert report["compare"]["final_stages"] == {"lead": 3, "sql": 0, "sqo": 1, "disqualified": 1}
    assert report["differences"] == {
        "count": 2,
        "leads": [
            {"lead_id": "L4", "a": "sql", "b": "lead"},
            {"lead_id": "L5", "a": "sql", "b": "lead"},
        ],
    }
    assert backtest_json(files, "--compare", str(files["b"]), "--list", "1")["differences"][
        "leads"
    ] == [{"lead_id": "L4", "a": "sql", "b": "lead"}]


def test_table_output_names_stages_and_differences(files: dict[str, Path]) -> None:
    args = ["backtest", "--events", str(files["events"]), "--outcomes", str(files["outcomes"])]
    result = runner.invoke(app, [*args, "--rules", str(files["a"]), "--compare", str(files["b"])])
    assert result.exit_code == 0, result.output
    for text in (
        "sql",
        "sqo",
        "disqualified",
        "50.0%",
        "2 lead(s) end in another stage (under a → under b)",
    ):
        assert text in result.stdout
    assert "L5: sql → lead" in result.stdout
    assert "2 invalid line(s) skipped (line 6: invalid_json" in result.stdout


def test_json_shape_has_the_documented_keys(files: dict[str, Path]) -> None:
    report = backtest_json(files, "--progress")  # progress goes to stderr, never into the JSON
    assert isinstance(report["base_rate"], float)
    for stage in ("sql", "sqo", "disqualified"):
        assert set(report["stages"][stage]) >= {
            "leads",
            "precision",
            "recall",
            "lift",
            "median_time_to_stage_s",
        }
    assert "compare" not in report
    assert "differences" not in report


@pytest.mark.parametrize("header", [True, False])
def test_outcomes_csv_with_or_without_header(tmp_path: Path, header: bool) -> None:
    path = tmp_path / "o.csv"
    body = "L1,won\nL2, lost \n\nL3,CONVERTED\nL4,churned\n"
    path.write_text(("lead_id,outcome\n" if header else "") + body)
    outcomes = read_outcomes(path)
    assert outcomes.known == {"L1", "L2", "L3", "L4"}
    assert outcomes.positive == {"L1", "L3"}


def test_bad_lines_are_counted_with_line_numbers(tmp_path: Path) -> None:
    good = orjson.dumps(history()[0])
    bad = [b"[1, 2]", b'{"type": "page_view"}', b'{"topic": "leads.nowhere", "type": "x"}']
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\n".join([good, b"", *bad, good]) + b"\n")
    loaded = read_history(path)
    assert (loaded.lines, loaded.invalid, len(loaded.events)) == (5, 3, 2)
    assert [(e.line, e.code) for e in loaded.examples] == [
        (3, "not_an_object"),
        (4, "missing_field"),
        (5, "invalid_value"),
    ]


def test_topic_field_must_agree_with_the_type(tmp_path: Path) -> None:
    value = event("e-1", "page_view", 0, "L1", topic="leads.email", properties={"url": "u"})
    path = write(tmp_path, [value])
    loaded = read_history(path)
    assert loaded.invalid == 1
    assert loaded.examples[0].code == "unknown_type"


def test_plot_is_a_png(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "funnel.png"
    backtest_json(files, "--compare", str(files["b"]), "--plot", str(out))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"events": "missing.jsonl"}, "'--events': File"),
        ({"outcomes": "missing.csv"}, "'--outcomes': File"),
        ({"outcomes": "."}, "is a directory"),
        ({"rules": "no-such-preset"}, "bad ruleset"),
        ({"events": "empty.jsonl"}, "has no valid events"),
        ({"outcomes": "bad.csv"}, "expected `lead_id,outcome`"),
        ({"compare": "broken.toml"}, "bad ruleset"),
        ({"events": "anonymous.jsonl"}, "no events that name or identify a lead"),
    ],
)
def test_errors_are_one_line_with_exit_2(
    files: dict[str, Path], tmp_path: Path, change: dict[str, str], message: str
) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"\n{bad\n")
    (tmp_path / "bad.csv").write_text("lead_id,outcome\nL1\n")
    (tmp_path / "broken.toml").write_text("name = ")
    anonymous = event("a-1", "page_view", 0, None, anonymous_id="v", properties={"url": "u"})
    write(tmp_path, [anonymous], name="anonymous")
    options = {k: str(files[k]) for k in ("events", "outcomes")} | {"rules": str(files["a"])}
    options |= {k: v if k == "rules" else str(tmp_path / v) for k, v in change.items()}
    args = [x for k, v in options.items() for x in (f"--{k}", v)]
    result = runner.invoke(app, ["backtest", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_workers_do_not_change_the_result(tmp_path: Path) -> None:
    path = write(tmp_path, [e.value for e in generate(300, seed=5)], name="sim")
    outcomes = tmp_path / "o.csv"
    write_outcomes(simulated_outcomes(300, seed=5), outcomes)
    one = run_backtest(path, outcomes, ["default", "startup"], workers=1)
    two = run_backtest(path, outcomes, ["default", "startup"], workers=2)
    assert one.journeys == two.journeys
    assert one.reports == two.reports
    assert one.differences == two.differences


def test_simulated_files_round_trip(tmp_path: Path) -> None:
    events, outcomes = tmp_path / "events.jsonl", tmp_path / "outcomes.csv"
    args = ["simulate", "--leads", "400", "--seed", "3"]
    result = runner.invoke(
        app, [*args, "--events-out", str(events), "--outcomes-out", str(outcomes)]
    )
    assert result.exit_code == 0, result.output
    generated = generate(400, 3)
    loaded = read_history(events)
    assert loaded.invalid == 0
    assert [e.event_id for e in loaded.events] == [e.value.get("event_id") for e in generated]
    known = read_outcomes(outcomes)
    assert known.known == {f"sim-{i:06d}" for i in range(1, 401)}
    assert known.positive == {
        k for k, v in simulated_outcomes(400, 3).by_lead.items() if v == "won"
    }
    report = backtest_json({"events": events, "outcomes": outcomes, "a": Path("default")})
    assert report["input"]["leads_without_outcome"] == 0
    # The outcome follows the journey: an SQO predicts a win far better than chance.
    assert report["stages"]["sqo"]["lift"] > 2
    assert report["stages"]["disqualified"]["lift"] < 1
