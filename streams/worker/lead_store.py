"""The qualify agent's lead states: decoded in memory, stored to the table's local store and
its changelog in batches, outside faust's per-key table path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

import faust
from faust.types import TP, EventT

from streams.core.state import LeadState
from streams.worker.codec import decode_state, encode_state
from streams.worker.faust_ext.local_store import LocalStore

# Decoded states kept in memory, at most (the most recently stored leads). A state is a few
# KB of Python objects; the local store and the changelog hold every lead.
CACHED_LEADS: Final = 20_000


class ChangelogSender(Protocol):
    """Sends one changelog record to a partition (faust's producer, or a stand-in in tests)."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> asyncio.Future[Any]:
        """Queue a record; returns the future of its acknowledgement (RecordMetadata)."""
        ...


class FaustChangelog:
    """Changelog records through faust's producer: the producer faust flushes before it
    commits, and whose sends the commit waits for (faust_ext/fixes.py, SendTracker)."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> asyncio.Future[Any]:
        sent: asyncio.Future[Any] = await self.app.producer.send(
            topic, key, value, partition, None, None
        )
        return sent


class LeadStore:
    """Each lead's state, as the qualify agent reads and stores it.

    Reading: a lead stored by this worker in the current consumer generation comes from
    memory, decoded; any other from the table's local store (RocksDB), decoded once. A
    rebalance (a new generation) forgets what is in memory: the partition may have been
    someone else's since, and recovery rewrote the local store.

    Storing (`put`, for the states of the records applied since the last store): each
    encoded state is written to the local store partition of the record that touched it
    (in one RocksDB write batch per partition) and sent to that partition of the table's
    changelog, as faust's table would, but without its per-key path (a send through the
    topic's buffer, a callback and a RocksDB write of the persisted offset per record).
    The sends are handed to `track` (the tracker faust's commits wait on), so no offset is
    committed before the states it produced are durable; the persisted changelog offset of
    a partition is written once per `put`, when its last send is acknowledged.
    """

    def __init__(
        self,
        table: faust.Table,
        changelog: ChangelogSender,
        track: Callable[[asyncio.Future[Any]], None],
        capacity: int = CACHED_LEADS,
    ) -> None:
        self.table = table
        self.local = LocalStore(table)
        self.changelog = changelog
        self.track = track
        self.capacity = capacity
        self.cached: dict[bytes, LeadState] = {}
        self.generation: int | None = None

    @property
    def topic(self) -> str:
        """The changelog topic's name."""
        name: str = self.table.changelog_topic.get_topic_name()
        return name

    def get(self, key: bytes, event: EventT) -> LeadState | None:
        """The lead's stored state (None if it has none), for a record of `event`'s partition."""
        self._follow(event)
        state = self.cached.get(key)
        if state is not None:
            return state
        raw = self.local.read(key, event.message.partition)
        if raw is None:
            return None
        state = decode_state(raw)
        self._remember(key, state)
        return state

    async def put(self, writes: Iterable[tuple[EventT, bytes, LeadState]]) -> None:
        """Store each lead's state in the partition of its record's event (see the class)."""
        topic = self.topic
        local: list[tuple[int, bytes, bytes]] = []
        last: dict[int, asyncio.Future[Any]] = {}
        for event, key, state in writes:
            self._follow(event)
            partition = event.message.partition
            value = encode_state(state)
            local.append((partition, key, value))
            sent = await self.changelog.send(topic, key, value, partition)
            self.track(sent)
            last[partition] = sent
            self._remember(key, state)
        self.local.write(local)
        for partition, sent in last.items():
            sent.add_done_callback(self._persist_offset(TP(topic, partition)))

    def _follow(self, event: EventT) -> None:
        """Forget the decoded states when `event` is of another consumer generation."""
        generation = event.message.generation_id
        if generation != self.generation:
            self.cached.clear()
            self.generation = generation

    def _remember(self, key: bytes, state: LeadState) -> None:
        cached = self.cached
        cached.pop(key, None)  # the most recently stored last
        cached[key] = state
        if len(cached) > self.capacity:
            del cached[next(iter(cached))]

    def _persist_offset(self, tp: TP) -> Callable[[asyncio.Future[Any]], None]:
        """A done-callback that records an acknowledged changelog offset as the local
        store's persisted one (where a restart's recovery resumes reading the changelog)."""

        def persist(sent: asyncio.Future[Any]) -> None:
            if sent.cancelled() or sent.exception() is not None:
                return  # the tracker reports it; the worker stops
            metadata = sent.result()
            if metadata is not None:
                self.local.persist_offset(tp, metadata.offset)

        return persist
