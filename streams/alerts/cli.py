"""`leadq alerts --config FILE` (the delivery service) and `leadq alerts check FILE`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import typer

alerts_app = typer.Typer(invoke_without_command=True)

ConfigFile = Annotated[
    Path, typer.Argument(dir_okay=False, help="Alerts configuration (TOML), see docs/alerts.md")
]


@alerts_app.callback()
def alerts(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", dir_okay=False, help="Alerts configuration (TOML), see docs/alerts.md."
        ),
    ] = None,
    loglevel: Annotated[
        Literal["critical", "error", "warning", "info", "debug"],
        typer.Option(help="Log level (deliveries given up are logged at warning)."),
    ] = "warning",
) -> None:
    """Deliver stage changes and SLA events to webhooks and Slack (start more to share the
    work); `leadq alerts check FILE` validates a configuration."""
    if ctx.invoked_subcommand is not None:
        return
    from aiokafka.errors import KafkaError

    from streams.alerts.config import AlertsConfigError, MissingEnvironment, load_config, resolve
    from streams.alerts.run import run_alerts
    from streams.cli import fail, kafka_failed, load_settings

    if config is None:
        raise fail("give the configuration: leadq alerts --config FILE")
    settings = load_settings()
    try:
        loaded = load_config(config)
        targets = resolve(loaded, os.environ)
    except (AlertsConfigError, MissingEnvironment) as exc:
        raise fail(str(exc)) from None
    try:
        run_alerts(settings, loaded, targets, loglevel)
    except (KafkaError, TimeoutError, OSError) as exc:
        raise kafka_failed(settings, exc) from None


@alerts_app.command("check")
def check(file: ConfigFile) -> None:
    """Validate an alerts configuration; explain each problem with its line."""
    from streams.alerts.config import AlertsConfigError, load_config, summary
    from streams.cli import BAD_INPUT

    try:
        config = load_config(file)
    except AlertsConfigError as exc:
        typer.echo(f"{exc.source}: {len(exc.problems)} problem(s)", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    typer.echo(summary(config))
