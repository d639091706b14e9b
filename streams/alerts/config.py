"""The alerts configuration file: destinations and their filters, validated with line numbers."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, StringConstraints, ValidationError, model_validator

from schemas.outputs import Stage
from streams.core.rule_base import Duration, Rule
from streams.core.ruleset_errors import describe

NAME_PATTERN = r"^[a-z0-9-]+$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
DEFAULT_MAX_PENDING = 10_000

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
EnvName = Annotated[str, StringConstraints(pattern=ENV_PATTERN)]
Positive = Annotated[Duration, Field(gt=0)]


def http_url_problem(url: str) -> str | None:
    """Why a text is not an http(s) URL with a host, or None when it is one (the URL itself
    is never part of the answer: a Slack webhook URL is a secret)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return "must start with https:// (or http://)"
    if not parts.hostname:
        return "has no host name"
    return None


class Destination(Rule):
    """One place alerts go to, with the filters that choose what it receives."""

    name: Name
    kind: Literal["webhook", "slack"]
    url: str | None = None
    url_env: EnvName | None = None
    secret_env: EnvName | None = None
    stages: list[Stage] | None = None  # to_stage values delivered; None: every stage
    sla: bool = False
    rulesets: list[Annotated[str, StringConstraints(min_length=1)]] | None = None
    timeout: Positive = 10_000
    max_age: Positive = 86_400_000
    # The first retry comes after `backoff` plus up to `backoff` of jitter; each later wait
    # doubles, up to `backoff_max`.
    backoff: Positive = 1_000
    backoff_max: Positive = 300_000
    # At most this many requests to this destination at once (each for a different lead).
    concurrency: Annotated[int, Field(ge=1, le=256)] = 4

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give either url or url_env (the name of an environment variable)")
        if self.url is not None and (problem := http_url_problem(self.url)) is not None:
            raise ValueError(f"url {problem}")
        if self.kind == "webhook" and self.secret_env is None:
            raise ValueError(
                "a webhook needs secret_env: the environment variable holding its signing"
                ' secret ("whsec_" + base64)'
            )
        if self.kind == "slack" and self.secret_env is not None:
            raise ValueError("secret_env is for webhooks; a Slack destination is not signed")
        if self.backoff > self.backoff_max:
            raise ValueError("backoff must not be longer than backoff_max")
        return self

    def summary(self) -> str:
        """'crm (webhook: sql, sqo, sla)' for the check's one-line summary."""
        what = ", ".join(self.stages) if self.stages is not None else "every stage"
        if self.sla:
            what += ", sla"
        return f"{self.name} ({self.kind}: {what})"


class AlertsConfig(Rule):
    """The whole file: the destinations, and how many records may wait unfinished."""

    destination: Annotated[list[Destination], Field(min_length=1)]
    max_pending: Annotated[int, Field(ge=1)] = DEFAULT_MAX_PENDING


class AlertsConfigError(ValueError):
    """A configuration that cannot be used, with messages that point at lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


def parse_config(text: str, source: str = "<alerts>") -> AlertsConfig:
    """Parse and validate TOML text; raise AlertsConfigError naming the lines at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AlertsConfigError(source, [f"not valid TOML: {exc}"]) from None
    try:
        config = AlertsConfig.model_validate(data)
    except ValidationError as exc:
        problems = [describe(err, text, AlertsConfig, {}, data) for err in exc.errors()]
        raise AlertsConfigError(source, list(dict.fromkeys(problems))) from None
    duplicates = _duplicate_names(text, config)
    if duplicates:
        raise AlertsConfigError(source, duplicates)
    return config


def _duplicate_names(text: str, config: AlertsConfig) -> list[str]:
    lines = text.splitlines()
    problems, seen = [], set()
    for destination in config.destination:
        if destination.name in seen:
            pattern = re.compile(rf'^\s*name\s*=\s*"{re.escape(destination.name)}"')
            at = [n for n, line in enumerate(lines, start=1) if pattern.search(line)]
            where = f"line {at[-1]}: " if len(at) > 1 else ""
            problems.append(f"{where}the destination name '{destination.name}' is used twice")
        seen.add(destination.name)
    return problems


def load_config(path: Path) -> AlertsConfig:
    """A configuration file by path (AlertsConfigError when it is missing or invalid)."""
    if path.is_dir():
        raise AlertsConfigError(str(path), ["is a directory, not a configuration file"])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AlertsConfigError(str(path), ["no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AlertsConfigError(str(path), [f"cannot be read ({exc})"]) from None
    return parse_config(text, str(path))


def summary(config: AlertsConfig) -> str:
    """The one line `leadq alerts check` prints for a valid configuration."""
    names = "; ".join(d.summary() for d in config.destination)
    needed = sorted(env_names(config))
    env = f"; reads {', '.join(needed)} from the environment" if needed else ""
    return f"ok: {len(config.destination)} destination(s): {names}{env}"


def env_names(config: AlertsConfig) -> set[str]:
    """The environment variables the configuration reads."""
    return {
        name for d in config.destination for name in (d.url_env, d.secret_env) if name is not None
    }


@dataclass(frozen=True)
class Target:
    """A destination ready to use: its settings with the URL and secret read."""

    rules: Destination
    url: SecretStr
    secret: SecretStr | None

    @property
    def name(self) -> str:
        return self.rules.name

    @property
    def timeout_s(self) -> float:
        return self.rules.timeout / 1000

    @property
    def max_age_s(self) -> float:
        return self.rules.max_age / 1000


class MissingEnvironment(ValueError):
    """The environment lacks a URL or secret, or holds an unusable one (one sentence)."""


def resolve(config: AlertsConfig, env: Mapping[str, str]) -> list[Target]:
    """Each destination with its URL and secret read from `env` (never shown in errors)."""
    from standardwebhooks.webhooks import Webhook

    problems, targets = [], []
    for d in config.destination:
        url = d.url if d.url is not None else env.get(d.url_env or "")
        secret = env.get(d.secret_env) if d.secret_env is not None else None
        missing = [
            n for n, v in ((d.url_env, url), (d.secret_env, secret)) if n is not None and not v
        ]
        if missing:
            problems.append(
                f"destination '{d.name}' needs the environment variable"
                f" {' and '.join(missing)}, which is not set"
            )
            continue
        assert url is not None
        if d.url_env is not None and (problem := http_url_problem(url)) is not None:
            problems.append(f"destination '{d.name}': the URL in {d.url_env} {problem}")
            continue
        if secret is not None:
            try:
                Webhook(secret)
            except Exception:  # binascii.Error, EmptyWebhookSecretError ...
                problems.append(
                    f"destination '{d.name}': {d.secret_env} is not a signing secret"
                    ' ("whsec_" followed by base64)'
                )
                continue
        targets.append(Target(d, SecretStr(url), SecretStr(secret) if secret else None))
    if problems:
        raise MissingEnvironment("; ".join(problems))
    return targets
