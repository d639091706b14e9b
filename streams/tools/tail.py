"""Follow leads.stage-changes (or leads.sla, leads.dead-letter) and print each record for a
person."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import typer
from aiokafka import AIOKafkaConsumer

from streams.settings import Settings
from streams.worker.kafka_clients import kafka_client_kwargs

TOPICS = {
    "stage-changes": "leads.stage-changes",
    "sla": "leads.sla",
    "dead-letter": "leads.dead-letter",
}


def format_change(change: dict[str, Any]) -> str:
    """One line per stage change: lead, from -> to, and the reasons in words."""
    reasons = "; ".join(r["description"] for r in change.get("reasons", []))
    return f"{change['lead_id']}: {change['from_stage']} -> {change['to_stage']}  ({reasons})"


def format_dead_letter(record: dict[str, Any]) -> str:
    """One line per rejected message: where it came from and why."""
    error = record.get("error", {})
    return (
        f"{record['source_topic']}[{record['partition']}]@{record['offset']}:"
        f" {error.get('code')}: {error.get('message')}"
    )


def format_sla(record: dict[str, Any]) -> str:
    """One line per SLA event: lead, stage, warning or breach, and when it is (was) due."""
    what = "SLA warning" if record["kind"] == "warning" else "SLA breached"
    return (
        f"{record['lead_id']}: {what} in {record['stage']} (due {record['due_at']},"
        f" in the stage since {record['stage_since']}, within {record['policy']['within']})"
    )


FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "stage-changes": format_change,
    "sla": format_sla,
    "dead-letter": format_dead_letter,
}


async def tail_topic(
    settings: Settings, topic: str, from_beginning: bool, count: int, raw: bool
) -> None:
    """Print records of a contract output topic until count is reached or interrupted."""
    if topic not in TOPICS:
        raise typer.BadParameter(f"topic must be one of {', '.join(TOPICS)}")
    consumer = AIOKafkaConsumer(
        settings.topic(TOPICS[topic]),
        **kafka_client_kwargs(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    seen = 0
    try:
        await consumer.start()  # inside: a consumer that could not connect is closed too
        async for message in consumer:
            if raw:
                typer.echo(message.value.decode("utf-8", "replace"))
            else:
                body = orjson.loads(message.value)
                typer.echo(FORMATS[topic](body))
            seen += 1
            if count and seen >= count:
                break
    finally:
        await consumer.stop()
