"""`leadq alerts check FILE` and the start of `leadq alerts --config FILE`: a summary or the
problems by line, one-line errors, the exit-code rule (0 ok, 2 bad input, 1 Kafka)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.alerts.test_config import EXAMPLE, SECRET
from tests.unit.test_cli import UNREACHABLE, assert_one_line_error, invoke

ENV = {"LEADQ_CRM_SECRET": SECRET, "LEADQ_SLACK_SALES_URL": "https://hooks.slack.test/T/B/tok"}


def test_check_a_good_file() -> None:
    code, out, err = invoke(["alerts", "check", str(EXAMPLE)])
    assert code == 0, err
    assert out.startswith("ok: 2 destination(s): crm (webhook: sql, sqo, disqualified);")
    assert len(out.splitlines()) == 1


def test_check_a_bad_file_lists_its_problems_by_line(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.toml"
    text = EXAMPLE.read_text().replace('kind = "slack"', 'kind = "slak"')
    bad.write_text(text.replace('stages = ["sqo"]', 'stage = ["sqo"]'))
    code, out, err = invoke(["alerts", "check", str(bad)])
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"{bad}: 2 problem(s)"
    kind_line = text.splitlines().index('kind = "slak"') + 1
    assert lines[1].startswith(f"  line {kind_line}: destination 'sales-channel': kind must be")
    assert "unknown key 'stage' (did you mean 'stages'?)" in lines[2]


def test_check_a_missing_file(tmp_path: Path) -> None:
    code, _, err = invoke(["alerts", "check", str(tmp_path / "none.toml")])
    assert code == 2
    assert "no such file" in err
    code, out, err = invoke(["alerts", "check", str(tmp_path)])
    assert_one_line_error(code, out, err, 2, "is a directory")


def test_the_service_needs_a_valid_config_and_its_environment(tmp_path: Path) -> None:
    code, out, err = invoke(["alerts"])
    assert_one_line_error(code, out, err, 2, "leadq alerts --config FILE")
    code, out, err = invoke(["alerts", "--config", str(tmp_path / "none.toml")])
    assert_one_line_error(code, out, err, 2, "no such file")
    code, out, err = invoke(["alerts", "--config", str(EXAMPLE)], LEADQ_CRM_SECRET=SECRET)
    assert_one_line_error(code, out, err, 2, "needs the environment variable LEADQ_SLACK_SALES")
    code, out, err = invoke(
        ["alerts", "--config", str(EXAMPLE)], **{**ENV, "LEADQ_CRM_SECRET": "whsec_"}
    )
    assert_one_line_error(code, out, err, 2, "LEADQ_CRM_SECRET is not a signing secret")
    code, out, err = invoke(["alerts", "--config", str(EXAMPLE), "--loglevel", "loud"])
    assert_one_line_error(code, out, err, 2, "--loglevel")


def test_an_unreachable_kafka_is_a_failure_while_running() -> None:
    code, out, err = invoke(
        ["alerts", "--config", str(EXAMPLE)], KAFKA_BOOTSTRAP_SERVERS=UNREACHABLE, **ENV
    )
    assert_one_line_error(code, out, err, 1, "cannot use Kafka")
    assert "hooks.slack.test" not in out + err
