"""`leadq rules learn` on the command line: files, JSON, exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.core.ruleset import load_ruleset

runner = CliRunner()


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = runner.invoke(app, args, env={"COLUMNS": "120"})
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, err: str, expected: int, words: str) -> None:
    assert code == expected, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert words in errors[0], err


def learn_args(files: tuple[Path, Path], *more: str) -> list[str]:
    return ["rules", "learn", "--events", str(files[0]), "--outcomes", str(files[1]), *more]


def test_out_file_json_report_and_rules_check(sim_400: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "learned.toml"
    code, stdout, err = invoke(learn_args(sim_400, "--out", str(out), "--json", "--seed", "3"))
    assert code == 0, err
    report = orjson.loads(stdout)
    # The shape of `leadq backtest --json --compare`: learned as A, the base under compare.
    for key in ("leads", "converted", "base_rate", "ruleset", "stages", "final_stages", "input"):
        assert key in report
    assert report["ruleset"]["name"] == "default-learned"
    assert report["compare"]["ruleset"] == {"name": "default", "version": "1.1"}
    assert set(report["stages"]) == {"sql", "sqo", "disqualified"}
    assert set(report["stages"]["sql"]) == {
        "leads", "converted", "precision", "recall", "lift", "median_time_to_stage_s"
    }  # fmt: skip
    assert set(report["differences"]) == {"count", "leads"}
    learn = report["learn"]
    assert learn["held_out"]["leads"] == report["leads"]
    assert learn["training"]["leads"] + learn["held_out"]["leads"] == 400
    assert learn["threshold"]["recall"] >= 0.3
    assert learn["signals"][0]["points"] == 30
    assert load_ruleset(str(out)).name == "default-learned"
    code, stdout, err = invoke(["rules", "check", str(out)])
    assert code == 0, err
    assert stdout.startswith("ok: ruleset default-learned 1")


def test_ruleset_to_stdout_is_byte_identical(sim_400: tuple[Path, Path]) -> None:
    code, first, err = invoke(learn_args(sim_400, "--seed", "4"))
    assert code == 0, err
    assert first.startswith("# Learned by `leadq rules learn`")
    assert "held-out leads" in err  # the report goes to stderr then
    _, again, _ = invoke(learn_args(sim_400, "--seed", "4"))
    assert again == first


def test_target_recall_of_the_base(sim_400: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "learned.toml"
    args = learn_args(sim_400, "--out", str(out), "--json", "--target-recall", "base")
    code, stdout, err = invoke(args)
    assert code == 0, err
    report = orjson.loads(stdout)
    base_sql = report["compare"]["stages"]["sql"]
    assert base_sql["recall"] is not None
    # Chosen on the training leads for the base's recall there, which is well above 0.3.
    assert report["learn"]["threshold"]["recall"] > 0.5


@pytest.mark.parametrize(
    ("more", "words"),
    [
        (["--json"], "--json needs --out"),
        (["--target-recall", "1.5"], "--target-recall"),
        (["--target-recall", "most"], "neither a share from 0 to 1 nor 'base'"),
        (["--holdout", "0"], "--holdout"),
        (["--base", "nonesuch"], "no such preset"),
    ],
)
def test_bad_usage(sim_400: tuple[Path, Path], more: list[str], words: str) -> None:
    code, _, err = invoke(learn_args(sim_400, *more))
    assert_one_line_error(code, err, 2, words)


def test_too_small_and_no_conversions(tmp_path: Path, sim_400: tuple[Path, Path]) -> None:
    small = tmp_path / "small.jsonl"
    small.write_text("".join(sim_400[0].read_text().splitlines(keepends=True)[:300]))
    code, _, err = invoke(learn_args((small, sim_400[1])))
    assert_one_line_error(code, err, 2, "too little history")
    lost = tmp_path / "lost.csv"
    lost.write_text("lead_id,outcome\n" + "".join(f"sim-{i:06d},lost\n" for i in range(401)))
    code, _, err = invoke(learn_args((sim_400[0], lost)))
    assert_one_line_error(code, err, 2, "converted")


def test_unwritable_out(sim_400: tuple[Path, Path], tmp_path: Path) -> None:
    code, _, err = invoke(learn_args(sim_400, "--out", str(tmp_path / "no" / "such" / "x.toml")))
    assert_one_line_error(code, err, 1, "cannot write")
