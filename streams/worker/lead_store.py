"""The qualify agent's lead states: decoded in memory, stored to the table's local store and
its changelog in batches, outside faust's per-key table path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

import faust
from faust.types import TP, EventT

from streams.core.state import LeadState
from streams.worker.codec import decode_state, encode_state
from streams.worker.faust_ext.local_store import LocalStore

# Decoded states kept in memory, at most (the most recently stored leads). A state is a few
# KB of Python objects; the local store and the changelog hold every lead.
CACHED_LEADS: Final = 20_000
# The largest batch of faust's producer, which carries the changelog records: a store step
# sends each partition's states in as few batches as this allows (a batch waits for the
# partition's previous one to be taken into a request). Below the broker's default limit
# of 1 MiB per record batch.
CHANGELOG_BATCH_BYTES: Final = 1_000_000


class ChangelogSender(Protocol):
    """Sends changelog records to a partition (faust's producer, or a stand-in in tests)."""

    async def send_records(
        self, topic: str, partition: int, records: Sequence[tuple[bytes, bytes]]
    ) -> list[asyncio.Future[int]]:
        """Queue (key, value) records for one partition, in order; returns a future for
        each batch they were sent in, in order, resolving to the offset of its last record."""
        ...


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
    topic's buffer, a callback and a RocksDB write of the persisted offset per record), a
    partition's states in whole record batches (FaustChangelog). The batches' futures are
    handed to `track` (the tracker faust's commits wait on), so no offset is committed
    before the states it produced are durable; the persisted changelog offset of a
    partition is written once per `put`, when its last batch is acknowledged.
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
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for event, key, state in writes:
            self._follow(event)
            partition = event.message.partition
            value = encode_state(state)
            local.append((partition, key, value))
            records = by_partition.get(partition)
            if records is None:
                records = by_partition[partition] = []
            records.append((key, value))
            self._remember(key, state)
        for partition, records in by_partition.items():
            sent = await self.changelog.send_records(topic, partition, records)
            for batch in sent:
                self.track(batch)
            sent[-1].add_done_callback(self._persist_offset(TP(topic, partition)))
        self.local.write(local)

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

    def _persist_offset(self, tp: TP) -> Callable[[asyncio.Future[int]], None]:
        """A done-callback that records an acknowledged changelog offset as the local
        store's persisted one (where a restart's recovery resumes reading the changelog)."""

        def persist(sent: asyncio.Future[int]) -> None:
            if sent.cancelled() or sent.exception() is not None:
                return  # the tracker reports it; the worker stops
            self.local.persist_offset(tp, sent.result())

        return persist
