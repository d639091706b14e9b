"""``leadq broker`` commands that start no JVM: errors, status and stop of nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.broker.cli import broker_app
from tests.support.broker import assert_one_sentence
from tests.support.ports import free_port


@pytest.mark.usefixtures("no_java")
def test_cli_missing_java_exits_1_with_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        broker_app,
        ["start", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")],
    )
    assert result.exit_code == 1  # the broker cannot start: a failure while running
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    assert_one_sentence(lines[0].removeprefix("error: "))


def test_cli_status_and_stop_when_nothing_runs(tmp_path: Path) -> None:
    runner = CliRunner()
    status = runner.invoke(broker_app, ["status", "--data-dir", str(tmp_path)])
    assert (status.exit_code, status.stdout) == (1, "not running\n")
    stop = runner.invoke(broker_app, ["stop", "--data-dir", str(tmp_path)])
    assert (stop.exit_code, stop.stdout) == (0, "not running\n")


def test_cli_default_data_dir_comes_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADQ_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(broker_app, ["stop"])
    assert result.exit_code == 0
    assert (tmp_path / "broker").is_dir() is False  # stop never creates the directory
