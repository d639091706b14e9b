"""The alerts configuration: the example parses; mistakes are explained with their line;
URLs and secrets come from the environment and never appear in an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.alerts.config import (
    AlertsConfigError,
    MissingEnvironment,
    load_config,
    parse_config,
    resolve,
    summary,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "alerts.toml"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

WEBHOOK = """\
[[destination]]
name = "crm"
kind = "webhook"
url = "https://crm.example.com/hooks"
secret_env = "CRM_SECRET"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(AlertsConfigError) as caught:
        parse_config(text, "alerts.toml")
    assert str(caught.value).startswith("alerts.toml: ")
    return caught.value.problems


def test_the_example_parses_with_its_defaults() -> None:
    config = load_config(EXAMPLE)
    crm, slack = config.destination
    assert (crm.name, crm.kind, crm.stages, crm.sla) == (
        "crm",
        "webhook",
        ["sql", "sqo", "disqualified"],
        False,
    )
    assert (crm.timeout, crm.max_age, crm.backoff, crm.concurrency) == (
        10_000,
        86_400_000,
        1_000,
        4,
    )
    assert (slack.url_env, slack.sla, slack.rulesets) == (
        "LEADQ_SLACK_SALES_URL",
        True,
        ["default"],
    )
    assert config.max_pending == 10_000


def test_defaults_deliver_every_stage_without_sla() -> None:
    (crm,) = parse_config(WEBHOOK).destination
    assert (crm.stages, crm.sla, crm.rulesets) == (None, False, None)


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ('"webhook"', '"webhok"', 3, "kind must be 'webhook' or 'slack', not the text 'webhok'"),
        (
            '"crm"',
            '"CRM team"',
            2,
            "name 'CRM team' must be lower case letters, digits and hyphens",
        ),
        ("url =", "ulr =", 4, "unknown key 'ulr' (did you mean 'url'?)"),
        ("", 'stages = ["sql", "sqoo"]', 6, "entry #2 must be 'lead', 'sql', 'sqo' or"),
        ("", 'timeout = "10 seconds"', 6, "timeout: '10 seconds' is not a duration"),
        ("", 'sla = "yes"', 6, "sla must be true or false, not the text 'yes'"),
        ("", "concurrency = 0", 6, "concurrency must be at least 1, not 0"),
    ],
)
def test_a_mistake_is_reported_at_its_line(old: str, new: str, line: int, words: str) -> None:
    text = WEBHOOK.replace(old, new, 1) if old else WEBHOOK + new + "\n"
    (problem,) = problems(text)
    assert problem.startswith(f"line {line}: destination ")
    assert words in problem


def test_problems_name_the_destination_and_each_gets_its_line() -> None:
    text = WEBHOOK + '\n[[destination]]\nname = "sales"\nkind = "slack"\nurl = "ftp://x"\n'
    text += 'secret_env = "X"\n'
    (problem,) = problems(text)
    assert problem == "line 7: destination 'sales': url must start with https:// (or http://)"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('url_env = "CRM_URL"\n', "give either url or url_env"),
        ("", "a webhook needs secret_env"),
        ('backoff = "10m"\n', "backoff must not be longer than backoff_max"),
    ],
)
def test_destinations_are_consistent(body: str, words: str) -> None:
    text = WEBHOOK + body
    if not body:
        text = text.replace('secret_env = "CRM_SECRET"\n', "")
    (problem,) = problems(text)
    assert problem.startswith("line 1: destination 'crm': ")
    assert words in problem


def test_slack_takes_no_secret_and_names_are_unique() -> None:
    slack = '[[destination]]\nname = "crm"\nkind = "slack"\nurl_env = "U"\n'
    assert "secret_env is for webhooks" in problems(slack + 'secret_env = "S"\n')[0]
    assert problems(WEBHOOK + "\n" + slack) == ["line 8: the destination name 'crm' is used twice"]


def test_file_level_problems() -> None:
    assert problems("") == ["destination is missing"]
    assert problems("destination = []") == ["line 1: destination needs at least 1 entry"]
    assert problems("[[destination]\n")[0].startswith("not valid TOML: ")
    assert problems("max_pendng = 3\n" + WEBHOOK) == [
        "line 1: unknown key 'max_pendng' (did you mean 'max_pending'?)"
    ]


def test_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(AlertsConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(AlertsConfigError, match="is a directory"):
        load_config(tmp_path)


def test_summary_names_destinations_and_environment() -> None:
    assert summary(load_config(EXAMPLE)) == (
        "ok: 2 destination(s): crm (webhook: sql, sqo, disqualified);"
        " sales-channel (slack: sqo, sla); reads LEADQ_CRM_SECRET, LEADQ_SLACK_SALES_URL"
        " from the environment"
    )


def test_resolve_reads_urls_and_secrets_from_the_environment() -> None:
    env = {"LEADQ_CRM_SECRET": SECRET, "LEADQ_SLACK_SALES_URL": "https://hooks.slack.test/T/B/x"}
    crm, slack = resolve(load_config(EXAMPLE), env)
    assert crm.url.get_secret_value() == "https://crm.example.com/hooks/leadq"
    assert crm.secret is not None
    assert crm.secret.get_secret_value() == SECRET
    assert slack.url.get_secret_value() == env["LEADQ_SLACK_SALES_URL"]
    assert slack.secret is None
    assert "hooks.slack.test" not in repr(slack)
    assert (crm.timeout_s, crm.max_age_s) == (10.0, 86_400.0)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, "destination 'crm' needs the environment variable LEADQ_CRM_SECRET, which is not set"),
        (
            {"LEADQ_CRM_SECRET": "whsec_"},
            "destination 'crm': LEADQ_CRM_SECRET is not a signing secret",
        ),
        (
            {"LEADQ_CRM_SECRET": SECRET, "LEADQ_SLACK_SALES_URL": "hooks.slack.test/T/B/secret"},
            "destination 'sales-channel': the URL in LEADQ_SLACK_SALES_URL must start with",
        ),
    ],
)
def test_a_missing_or_unusable_environment_is_one_sentence(env: dict[str, str], words: str) -> None:
    with pytest.raises(MissingEnvironment) as caught:
        resolve(load_config(EXAMPLE), env)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message
    assert "slack.test" not in message
