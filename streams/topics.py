"""Topic names (with the deployment's prefix) and creating the ones that are missing."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.decode import TOPIC_KINDS, TopicKind
from streams.settings import Settings

INPUT_TOPICS: Final[dict[TopicKind, str]] = {kind: f"leads.{kind}" for kind in TOPIC_KINDS}
STAGE_CHANGES: Final = "leads.stage-changes"
DEAD_LETTER: Final = "leads.dead-letter"
EVENTS_BY_LEAD: Final = "leadq.events-by-lead"


@dataclass(frozen=True)
class TopicNames:
    """The full topic names of one deployment."""

    inputs: dict[TopicKind, str]
    stage_changes: str
    dead_letter: str
    events_by_lead: str

    @classmethod
    def of(cls, settings: Settings) -> TopicNames:
        """Names with the settings' prefix applied."""
        return cls(
            inputs={kind: settings.topic(name) for kind, name in INPUT_TOPICS.items()},
            stage_changes=settings.topic(STAGE_CHANGES),
            dead_letter=settings.topic(DEAD_LETTER),
            events_by_lead=settings.topic(f"{EVENTS_BY_LEAD}.{settings.app_id}"),
        )

    def all(self) -> list[str]:
        """Every topic the worker reads or writes."""
        return [*self.inputs.values(), self.stage_changes, self.dead_letter, self.events_by_lead]


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the deployment's topics that do not exist yet; return the ones created."""
    from streams.kafka_clients import kafka_client_kwargs

    names = TopicNames.of(settings)
    admin = AIOKafkaAdminClient(
        **kafka_client_kwargs(settings), request_timeout_ms=int(timeout_s * 1000)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names.all() if n not in existing]
        if missing:
            # Another worker may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(n, settings.partitions, settings.replication_factor) for n in missing]
                )
        return missing
    finally:
        await admin.close()
