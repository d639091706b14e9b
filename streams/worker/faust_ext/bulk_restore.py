"""Bulk restore: table partitions read from their changelogs in large batches before faust's
own (per-message) recovery, which then finds nothing, or almost nothing, left to read."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.stores.rocksdb import Store as RocksDBStore
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

log = logging.getLogger(__name__)
# A restore fetches continuously; a partition without progress for this long is left to
# faust's own recovery (a restored partition moves hundreds of thousands of records a second).
STALL_S = 10.0

# Below this many records in all, faust's own path (about 120 µs a record) is about as
# quick as starting a consumer, fetching and stopping it (20-30 ms on a local broker).
MIN_BACKLOG: Final = 250
# One write to the store per fetched batch of at most this many records of a partition;
# with the fetch size below, this bounds the memory a restore holds at any time.
BATCH_RECORDS: Final = 10_000
FETCH_BYTES: Final = 8 * 1024 * 1024
FETCH_WAIT_MS: Final = 500
PROGRESS_EVERY_S: Final = 5.0


class ChangelogRecord:
    """One changelog record, shaped as faust's stores read a recovery event (`event.key`,
    `event.value`, `event.message.tp/partition/offset/key/value`), without faust's Event."""

    __slots__ = ("key", "offset", "partition", "tp", "value")

    def __init__(self, tp: TP, offset: int, key: bytes | None, value: bytes | None) -> None:
        self.tp = tp
        self.partition: int = tp.partition
        self.offset = offset
        self.key = key
        self.value = value

    @property
    def message(self) -> ChangelogRecord:
        """The record itself: faust's stores read the message fields through `event.message`."""
        return self


@dataclass
class Backlog:
    """The records of one changelog partition that the table's local store lacks."""

    tp: TP
    table: Any
    start: int  # first offset to read
    end: int  # one past the last offset to read (faust's highwater for the partition)
    restored: int = 0

    @property
    def total(self) -> int:
        """How many offsets the backlog spans (compaction may have removed some)."""
        return self.end - self.start


def bulk_capable(table: Any) -> bool:
    """Whether a table's changelog can be applied to its store as raw records: a RocksDB
    store keeps the message bytes as they are; another store only when the changelog's
    codecs are raw. A table with an on-changelog-event callback needs faust's path."""
    if getattr(table, "_on_changelog_event", None) is not None:
        return False
    if isinstance(table.data, RocksDBStore):
        return True
    topic = table.changelog_topic
    return bool(topic.key_serializer == "raw" and topic.value_serializer == "raw")


def backlogs(
    tps: Iterable[TP],
    tables: Mapping[TP, Any],
    highwaters: Mapping[TP, int | None],
    offsets: Mapping[TP, int | None],
) -> list[Backlog]:
    """What each partition lacks: from the offset after the last one applied (`offsets`,
    faust's notion: the store's persisted offset) to the last one (`highwaters`, faust's
    notion: end offset - 1). Partitions of tables that cannot be bulk-restored are left out."""
    found = []
    for tp in sorted(tps):
        table, last = tables.get(tp), highwaters.get(tp)
        if table is None or last is None or not bulk_capable(table):
            continue
        seen = offsets.get(tp)
        start = seen + 1 if seen is not None and seen >= 0 else 0
        if last >= start:
            found.append(Backlog(tp, table, start, last + 1))
    return found


def apply_batch(
    backlog: Backlog, records: Sequence[ChangelogRecord], offsets: MutableMapping[TP, int]
) -> None:
    """Write records (tombstones delete) through the table's store, then record the last
    offset they cover: in the store (faust's apply_changelog_batch persists it after the
    data) and in faust's recovery offsets. An interruption never leaves an offset beyond
    what was written; a batch written again is harmless (the last value of a key wins)."""
    backlog.table.apply_changelog_batch(records)
    offsets[backlog.tp] = records[-1].offset
    backlog.restored += len(records)


class Progress:
    """INFO lines while a restore runs: every PROGRESS_EVERY_S seconds, and a summary."""

    def __init__(self, items: Sequence[Backlog]) -> None:
        self.items = items
        self.began = self.last = time.monotonic()

    def tick(self, backlog: Backlog) -> None:
        """Log the partition's progress if the last line is a while ago."""
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            done = sum(b.restored for b in self.items)
            total = sum(b.total for b in self.items)
            log.info(
                "bulk restore %s[%d]: %s/%s records (all partitions: %s/%s)",
                backlog.tp.topic,
                backlog.tp.partition,
                f"{backlog.restored:,}",
                f"{backlog.total:,}",
                f"{done:,}",
                f"{total:,}",
            )

    def summary(self) -> str:
        """Records restored, partitions, seconds and rate."""
        done = sum(b.restored for b in self.items)
        seconds = time.monotonic() - self.began
        return (
            f"{done:,} records of {len(self.items)} changelog partitions in {seconds:.1f}s "
            f"({done / seconds if seconds > 0 else 0:,.0f}/s)"
        )


async def restore(
    consumer: AIOKafkaConsumer,
    items: Sequence[Backlog],
    offsets: MutableMapping[TP, int],
    current: Callable[[], bool],
    stall_s: float,
) -> bool:
    """Read each backlog with a started, group-less consumer, one partition at a time (only
    one store takes writes at once), and apply it in batches. Stops, returning False, as
    soon as `current()` turns false (a rebalance began) or a partition makes no progress
    for `stall_s` seconds; what was applied up to then stays, with its offsets."""
    progress = Progress(items)
    for backlog in items:
        tp = TopicPartition(backlog.tp.topic, backlog.tp.partition)
        consumer.assign([tp])
        consumer.seek(tp, backlog.start)
        moved_at = time.monotonic()
        position = backlog.start
        while position < backlog.end:
            fetched = await consumer.getmany(
                tp, timeout_ms=FETCH_WAIT_MS, max_records=BATCH_RECORDS
            )
            if not current():
                log.info("bulk restore stopped by a rebalance after %s", progress.summary())
                return False
            records = [
                ChangelogRecord(backlog.tp, r.offset, r.key, r.value)
                for r in fetched.get(tp, ())
                if r.offset < backlog.end
            ]
            if records:
                apply_batch(backlog, records, offsets)
                progress.tick(backlog)
            now_at = await consumer.position(tp)
            if now_at > position:
                position, moved_at = now_at, time.monotonic()
            elif time.monotonic() - moved_at > stall_s:
                log.warning(
                    "bulk restore of %s[%d] stalled at offset %d of %d for %gs; faust's "
                    "recovery reads the rest",
                    tp.topic,
                    tp.partition,
                    position,
                    backlog.end,
                    stall_s,
                )
                return False
    log.info("bulk restore: %s", progress.summary())
    return True


class BulkRestoreRecovery(Recovery):  # type: ignore[misc]
    """faust's Recovery, with a bulk restore of the active partitions' backlogs just before
    it builds their offsets (after their highwaters are known), so that it starts reading
    where the restore ended. Standby partitions are left to faust.

    A rebalance during the restore: faust cancels the step it waits on (this one) and starts
    over; batches are written with their offsets, and none after a rebalance has begun.
    """

    def __init__(
        self, app: Any, tables: Any, *, client_kwargs: Mapping[str, Any], **kw: Any
    ) -> None:
        super().__init__(app, tables, **kw)
        self.client_kwargs = dict(client_kwargs)

    async def _build_offsets(
        self, consumer: Any, tps: set[TP], destination: Any, title: str
    ) -> None:
        if title == "active" and tps:
            await self.bulk_restore(tps, destination)
        await super()._build_offsets(consumer, tps, destination, title)

    async def _wait(self, coro: Any, timeout: float | None = None) -> None:
        # faust bounds each recovery step by the request timeout, and a timed-out step
        # stops recovery for good; the restore step bounds its own waits instead (stall_s).
        if getattr(coro, "cr_code", None) is BulkRestoreRecovery._build_offsets.__code__:
            timeout = None
        await super()._wait(coro, timeout=timeout)

    async def bulk_restore(self, tps: set[TP], offsets: Any) -> None:
        """Restore the partitions' backlogs, if there is enough to be worth a consumer."""
        app = self.app
        if app.in_transaction or app.tracer is not None:
            return  # aborted transactions and traced steps: faust's path
        items = backlogs(tps, self.tp_to_table, self.active_highwaters, offsets)
        if sum(b.total for b in items) < MIN_BACKLOG:
            return
        rebalances = app.rebalancing_count
        consumer = AIOKafkaConsumer(
            **self.client_kwargs,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=FETCH_BYTES,
            fetch_max_bytes=FETCH_BYTES,
        )
        log.info(
            "bulk restore of %s records from %d changelog partitions",
            f"{sum(b.total for b in items):,}",
            len(items),
        )
        try:
            await consumer.start()
            try:
                await restore(
                    consumer,
                    items,
                    offsets,
                    lambda: app.rebalancing_count == rebalances and not self.should_stop,
                    STALL_S,
                )
            finally:
                await consumer.stop()
        except Exception as exc:  # faust's recovery would stop for good; its path still works
            log.warning("bulk restore failed (%r); faust's recovery reads the rest", exc)


class BulkRestoreTableManager(TableManager):  # type: ignore[misc]
    """faust's TableManager, recovering with BulkRestoreRecovery (see table_manager)."""

    client_kwargs: Mapping[str, Any] = {}
    _recovery: BulkRestoreRecovery | None = None

    @property
    def recovery(self) -> BulkRestoreRecovery:
        """The recovery service (created on first use, as faust's)."""
        recovery = self._recovery
        if recovery is None:
            recovery = self._recovery = BulkRestoreRecovery(
                self.app,
                self,
                client_kwargs=self.client_kwargs,
                beacon=self.beacon,
                loop=self.loop,
            )
        return recovery


def table_manager(client_kwargs: Mapping[str, Any]) -> type[BulkRestoreTableManager]:
    """The class to pass as faust's `TableManager` setting; its restore consumer connects
    with these aiokafka keyword arguments (see streams.worker.kafka_clients)."""

    class Manager(BulkRestoreTableManager):
        pass

    Manager.client_kwargs = dict(client_kwargs)
    return Manager
