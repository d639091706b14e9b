"""Topic names (with the deployment's prefix) and creating the ones that are missing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from schemas.decode import TOPIC_KINDS, TopicKind
from streams.settings import Settings
from streams.worker.kafka_clients import kafka_client_kwargs

INPUT_TOPICS: Final[dict[TopicKind, str]] = {kind: f"leads.{kind}" for kind in TOPIC_KINDS}
STAGE_CHANGES: Final = "leads.stage-changes"
LEAD_STAGES: Final = "leads.lead-stages"
SLA: Final = "leads.sla"
SHADOW_STAGE_CHANGES: Final = "leads.shadow-stage-changes"
DEAD_LETTER: Final = "leads.dead-letter"
ALERTS_DEAD_LETTER: Final = "leads.alerts-dead-letter"
EVENTS_BY_LEAD: Final = "leadq.events-by-lead"
LEAD_TABLE: Final = "lead-state"
PARTITION_CACHE_KEYS: Final = 65_536  # keys whose partition partition_of() remembers
SHADOW_TABLE: Final = "lead-state-shadow"
METADATA_TIMEOUT_S: Final = 30.0
COMPACTED: Final = {"cleanup.policy": "compact"}


@dataclass(frozen=True)
class TopicNames:
    """The full topic names of one deployment."""

    inputs: dict[TopicKind, str]
    stage_changes: str
    lead_stages: str
    sla: str
    dead_letter: str
    events_by_lead: str
    changelog: str
    shadow_stage_changes: str
    shadow_changelog: str

    @classmethod
    def of(cls, settings: Settings) -> TopicNames:
        """Names with the settings' prefix applied."""
        return cls(
            inputs={kind: settings.topic(name) for kind, name in INPUT_TOPICS.items()},
            stage_changes=settings.topic(STAGE_CHANGES),
            lead_stages=settings.topic(LEAD_STAGES),
            sla=settings.topic(SLA),
            dead_letter=settings.topic(DEAD_LETTER),
            events_by_lead=settings.topic(f"{EVENTS_BY_LEAD}.{settings.app_id}"),
            # Faust names a table's changelog "{app id}-{table}-changelog".
            changelog=settings.topic(f"{settings.app_id}-{LEAD_TABLE}-changelog"),
            shadow_stage_changes=settings.topic(SHADOW_STAGE_CHANGES),
            shadow_changelog=settings.topic(f"{settings.app_id}-{SHADOW_TABLE}-changelog"),
        )

    def all(self) -> list[str]:
        """Every topic the worker reads or writes (without a shadow ruleset)."""
        return [
            *self.inputs.values(),
            self.stage_changes,
            self.lead_stages,
            self.sla,
            self.dead_letter,
            self.events_by_lead,
            self.changelog,
        ]

    def shadow(self) -> list[str]:
        """The topics a shadow ruleset adds: its stage changes and its table's changelog."""
        return [self.shadow_stage_changes, self.shadow_changelog]

    def of_deployment(self, settings: Settings) -> list[str]:
        """Every topic of a worker with these settings (the shadow's with a shadow ruleset)."""
        return self.all() + (self.shadow() if settings.shadow_rules else [])


@lru_cache(maxsize=PARTITION_CACHE_KEYS)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as Java's and aiokafka's) gives a key.

    Remembered for the most recent keys: aiokafka's murmur2 is pure Python (about 3 µs a
    key), and a lead's key comes back with each of its events.
    """
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


async def ensure_topics(
    settings: Settings,
    timeout_s: float = METADATA_TIMEOUT_S,
    topics: Sequence[str] | None = None,
) -> list[str]:
    """Create the deployment's missing topics (or only those of `topics`, full names) and
    wait until every partition has a leader.

    A worker that joins its group before the broker's metadata shows its topics gets no
    partitions (or crashes on a changelog that seems to have none), so this waits.
    """
    names = TopicNames.of(settings)
    admin = AIOKafkaAdminClient(
        **kafka_client_kwargs(settings), request_timeout_ms=int(timeout_s * 1000)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = list(topics) if topics is not None else names.of_deployment(settings)
        compacted = {names.lead_stages, names.changelog, names.shadow_changelog}
        missing = [n for n in wanted if n not in existing]
        if missing:
            # Another worker may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            n,
                            settings.partitions,
                            settings.replication_factor,
                            topic_configs=COMPACTED if n in compacted else {},
                        )
                        for n in missing
                    ]
                )
        await _wait_for_leaders(admin, wanted, timeout_s)
        return missing
    finally:
        await admin.close()


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, topics: list[str], timeout_s: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(topics)
        pending = [
            d["topic"]
            for d in described
            if d["error_code"] != 0
            or not d["partitions"]
            or any(p["leader"] < 0 for p in d["partitions"])
        ]
        if not pending:
            return
        if loop.time() >= deadline:
            raise TimeoutError(
                f"topics {', '.join(pending)} have no partition leaders after {timeout_s:g}s;"
                " is the broker healthy?"
            )
        await asyncio.sleep(0.1)
