"""`leadq shadow report`: the shadow ruleset's stage changes compared with the active one's."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

shadow_app = typer.Typer(no_args_is_help=True)


@shadow_app.command("report")
def shadow_report(
    outcomes: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV lead_id,outcome (won/converted = positive): adds precision, recall, lift.",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
    listed: Annotated[
        int, typer.Option("--list", min=0, help="How many differing leads to list.")
    ] = 20,
) -> None:
    """Compare leads.stage-changes with leads.shadow-stage-changes (as they are now)."""
    import orjson
    from aiokafka.errors import KafkaError
    from rich.console import Console

    from streams.backtest.outcomes import OutcomesError, read_outcomes
    from streams.cli import fail, kafka_failed, load_settings
    from streams.tools.read_topics import MissingTopic, UnreadableRecord, read_json_topics
    from streams.tools.shadow_report import ShadowReportError, compare, render, to_json
    from streams.worker.topics import TopicNames

    settings = load_settings()
    try:
        known = read_outcomes(outcomes) if outcomes is not None else None
    except OutcomesError as exc:
        raise fail(str(exc)) from None
    names = TopicNames.of(settings)
    topics = [names.stage_changes, names.shadow_stage_changes]
    try:
        read = asyncio.run(read_json_topics(settings, topics))
        report = compare(read[topics[0]], read[topics[1]], known)
    except MissingTopic as exc:
        raise fail(f"topic {exc.topic} does not exist: has a worker run with --shadow?") from None
    except (UnreadableRecord, ShadowReportError) as exc:
        raise fail(str(exc)) from None
    except (KafkaError, TimeoutError, OSError) as exc:
        raise kafka_failed(settings, exc) from None
    if json_out:
        typer.echo(orjson.dumps(to_json(report, listed), option=orjson.OPT_INDENT_2).decode())
    else:
        render(report, Console(width=None if sys.stdout.isatty() else 100), listed)
