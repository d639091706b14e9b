"""The `leadq` command line: invalid values are one-line errors, help renders flags as
flags, and every command follows one exit-code rule (0 ok, 1 failed while running,
2 bad usage or bad input)."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli import app

runner = CliRunner()
UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once


def invoke(args: list[str], **env: str) -> tuple[int, str, str]:
    result = runner.invoke(app, args, env={"COLUMNS": "120", **env})
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, out: str, err: str, expected: int, words: str) -> None:
    assert code == expected, (out, err)
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert words in errors[0], err


@pytest.fixture
def events_and_outcomes(tmp_path: Path) -> list[str]:
    events, outcomes = tmp_path / "events.jsonl", tmp_path / "outcomes.csv"
    code, _, err = invoke(
        [
            *("simulate", "--leads", "20", "--seed", "2"),
            *("--events-out", str(events), "--outcomes-out", str(outcomes)),
        ]
    )
    assert code == 0, err
    return ["--events", str(events), "--outcomes", str(outcomes)]


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["simulate", "--leads", "-5"], "--leads"),
        (["simulate", "--rate", "-1"], "--rate"),
        (["simulate", "--events-out", "{dir}"], "is a directory"),
        (["simulate", "--outcomes-out", "{dir}"], "is a directory"),
        (["demo", "--leads", "-1"], "--leads"),
        (["demo", "--rate", "0"], "--rate"),
        (["backtest", "--events", "{dir}", "--outcomes", "{file}"], "is a directory"),
        (["backtest", "--events", "{file}", "--outcomes", "{dir}"], "is a directory"),
        (["backtest", "--events", "{missing}", "--outcomes", "{file}"], "does not exist"),
        (["backtest", "--events", "{file}", "--outcomes", "{file}", "--workers", "0"], "--workers"),
        (["backtest", "--events", "{file}", "--outcomes", "{file}", "--list", "-1"], "--list"),
        (
            ["backtest", "--events", "{file}", "--outcomes", "{file}", "--plot", "{dir}"],
            "is a directory",
        ),
        (["tail", "--count", "-1"], "--count"),
        (["tail", "--topic", "stage-change"], "--topic"),
        (["run", "--loglevel", "loud"], "--loglevel"),
        (["api", "--port", "70000"], "--port"),
        (["api", "--loglevel", "loud"], "--loglevel"),
        (["rules", "check", "{dir}"], "is a directory"),
        (["broker", "start", "--port", "0"], "--port"),
        (["broker", "start", "--timeout", "-1"], "--timeout"),
        (["broker", "start", "--nodes", "10"], "--nodes"),
        (["broker", "start", "--data-dir", "{file}"], "is a file"),
        (["broker", "stop", "--timeout", "-1"], "--timeout"),
        (["broker", "status", "--data-dir", "{file}"], "is a file"),
        (["simulate", "--leads", "many"], "--leads"),
        (["simulate", "--no-such-option"], "--no-such-option"),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_an_invalid_value_is_a_one_line_error_with_exit_2(
    tmp_path: Path, args: list[str], words: str
) -> None:
    (tmp_path / "file.txt").write_text("x\n")
    paths = {"dir": tmp_path, "file": tmp_path / "file.txt", "missing": tmp_path / "no.jsonl"}
    code, out, err = invoke([a.format(**paths) for a in args])
    assert_one_line_error(code, out, err, 2, words)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("command", [[], ["rules"], ["broker"]])
def test_no_arguments_shows_the_help_with_exit_2(command: list[str]) -> None:
    code, out, err = invoke(command)
    assert code == 2
    assert "Usage: " in out
    assert "error" not in err


def test_a_directory_given_as_the_events_file_is_named_as_a_directory(tmp_path: Path) -> None:
    (tmp_path / "o.csv").write_text("lead_id,outcome\n")
    code, _, err = invoke(["backtest", "--events", str(tmp_path), "--outcomes", "o.csv"])
    assert code == 2
    assert "is a directory" in err
    assert "not found" not in err


# ----------------------------------------------------------------------------- help


def help_texts() -> list[str]:
    commands = [
        [],
        ["run"],
        ["api"],
        ["demo"],
        ["simulate"],
        ["backtest"],
        ["tail"],
        ["rules"],
        ["rules", "check"],
        ["broker"],
        ["broker", "start"],
        ["broker", "stop"],
        ["broker", "status"],
    ]
    texts = []
    for command in commands:
        code, out, err = invoke([*command, "--help"])
        assert code == 0, err
        texts.append(out)
    return texts


def test_help_shows_flags_without_a_value_placeholder() -> None:
    for text in help_texts():
        assert "<bool>" not in text
        assert "BOOLEAN" not in text
        assert re.search(r"--help\s+Show this message", text), text
    _, backtest_help, _ = invoke(["backtest", "--help"])
    assert re.search(r"--json\s+Print JSON", backtest_help), backtest_help
    assert re.search(r"--progress\s+--no-progress\s+Progress bars", backtest_help)


def test_version_prints_the_installed_version() -> None:
    code, out, _ = invoke(["--version"])
    assert code == 0
    assert out == f"leadq {version('leadq')}\n"
    _, top_help, _ = invoke(["--help"])
    assert "--version" in top_help


# ----------------------------------------------------------------------------- exit codes


def test_rules_check_exit_codes(tmp_path: Path) -> None:
    assert invoke(["rules", "check", "default"])[0] == 0
    broken = tmp_path / "rules.toml"
    broken.write_text('name = "x"\n')
    assert invoke(["rules", "check", str(broken)])[0] == 2
    assert invoke(["rules", "check", str(tmp_path / "missing.toml")])[0] == 2


def test_backtest_exit_codes(tmp_path: Path, events_and_outcomes: list[str]) -> None:
    code, _, err = invoke(["backtest", *events_and_outcomes])
    assert code == 0, err
    broken = tmp_path / "rules.toml"
    broken.write_text('name = "x"\n')
    code, out, err = invoke(["backtest", *events_and_outcomes, "--rules", str(broken)])
    assert_one_line_error(code, out, err, 2, "bad ruleset")
    bad_outcomes = tmp_path / "bad.csv"
    bad_outcomes.write_text("lead_id,outcome\nL1\n")
    code, out, err = invoke(["backtest", *events_and_outcomes[:2], "--outcomes", str(bad_outcomes)])
    assert_one_line_error(code, out, err, 2, "lead_id,outcome")
    # The chart cannot be written (its folder does not exist): a failure while running.
    plot = tmp_path / "no" / "such" / "folder" / "funnel.png"
    code, out, err = invoke(["backtest", *events_and_outcomes, "--plot", str(plot)])
    assert_one_line_error(code, out, err, 1, "cannot write the plot")


def test_simulate_exit_codes(tmp_path: Path) -> None:
    code, out, err = invoke(["simulate", "--leads", "3"], KAFKA_BOOTSTRAP_SERVERS=UNREACHABLE)
    assert_one_line_error(code, out, err, 1, UNREACHABLE)
    code, out, err = invoke(["simulate", "--leads", "3"], KAFKA_BOOTSTRAP_SERVERS="nohostport")
    assert_one_line_error(code, out, err, 2, "invalid setting")
    unwritable = tmp_path / "no" / "such" / "folder" / "events.jsonl"
    code, out, err = invoke(["simulate", "--leads", "3", "--events-out", str(unwritable)])
    assert_one_line_error(code, out, err, 1, "cannot write")


def test_tail_exit_codes() -> None:
    code, out, err = invoke(["tail", "--count", "1"], KAFKA_BOOTSTRAP_SERVERS=UNREACHABLE)
    assert_one_line_error(code, out, err, 1, UNREACHABLE)
    code, out, err = invoke(["tail"], KAFKA_BOOTSTRAP_SERVERS="nohostport")
    assert_one_line_error(code, out, err, 2, "invalid setting")


def test_run_exit_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiokafka.errors import KafkaConnectionError

    import streams.worker.runner

    code, out, err = invoke(["run", "--rules", "no-such-preset"])
    assert_one_line_error(code, out, err, 2, "no such preset or file")
    code, out, err = invoke(["run"], KAFKA_BOOTSTRAP_SERVERS="nohostport")
    assert_one_line_error(code, out, err, 2, "invalid setting")

    def unreachable(*_: object, **__: object) -> None:
        raise KafkaConnectionError(f"Unable to bootstrap from {UNREACHABLE}")

    monkeypatch.setattr(streams.worker.runner, "run_worker", unreachable)
    code, out, err = invoke(["run"], KAFKA_BOOTSTRAP_SERVERS=UNREACHABLE)
    assert_one_line_error(code, out, err, 1, "cannot use Kafka")


def test_demo_exit_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    import streams.tools.demo
    from streams.broker.errors import BrokerError

    async def checks_failed(*_: object, **__: object) -> int:
        return 1

    async def no_java(*_: object, **__: object) -> int:
        raise BrokerError("no java was found; install a JDK.")

    monkeypatch.setattr(streams.tools.demo, "run_demo", checks_failed)
    assert invoke(["demo"])[0] == 1
    monkeypatch.setattr(streams.tools.demo, "run_demo", no_java)
    code, out, err = invoke(["demo"])
    assert_one_line_error(code, out, err, 1, "no java was found")
    code, out, err = invoke(["demo"], KAFKA_BOOTSTRAP_SERVERS="nohostport")
    assert_one_line_error(code, out, err, 2, "invalid setting")


def test_broker_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = ["--data-dir", str(tmp_path / "broker")]
    code, out, _ = invoke(["broker", "status", *data_dir])
    assert (code, out) == (1, "not running\n")  # the answer to a question, not an error
    assert invoke(["broker", "stop", *data_dir])[0] == 0
    code, out, err = invoke(["broker", "start", "--nodes", "3", "--secure", *data_dir])
    assert_one_line_error(code, out, err, 2, "--secure works with a single node only")
    code, out, err = invoke(["broker", "start", "--nodes", "3", "--port", "65534", *data_dir])
    assert_one_line_error(code, out, err, 2, "--port")
    # No Java on PATH: the broker cannot start, a failure while running.
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    code, out, err = invoke(["broker", "start", "--port", "29321", *data_dir])
    assert_one_line_error(code, out, err, 1, "Java")
