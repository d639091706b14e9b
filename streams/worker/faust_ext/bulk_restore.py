"""Bulk restore: table partitions read from their changelogs in large batches before faust's
own (per-message) recovery, which then finds nothing, or almost nothing, left to read."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from faust.stores.rocksdb import Store as RocksDBStore
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from streams.worker.faust_ext.changelog_reader import ChangelogReader
from streams.worker.faust_ext.restore_writes import RestoreWrites, Row

log = logging.getLogger(__name__)
# A restore fetches continuously; a partition without progress for this long is left to
# faust's own recovery (a restored partition moves hundreds of thousands of records a second).
STALL_S = 10.0

# Below this many records in all, faust's own path (about 120 µs a record) is about as
# quick as connecting a client, fetching and closing it (20-30 ms on a local broker).
MIN_BACKLOG: Final = 250
# One write to the store per fetch of at most this many bytes of a partition; with one
# fetch being written while the next is read, this bounds the memory a restore holds.
FETCH_BYTES: Final = 4 * 1024 * 1024
FETCH_WAIT_MS: Final = 500
PROGRESS_EVERY_S: Final = 5.0
# A broker error (a lost connection, a leader that moved) ends an attempt; the next one
# starts from the offsets already written. After the last, faust's recovery reads the rest.
ATTEMPTS: Final = 3
RETRY_WAIT_S: Final = 1.0  # before the second attempt; doubled before each one after
TRANSIENT: Final = (KafkaError, OSError, asyncio.TimeoutError)


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


class Reader(Protocol):
    """Fetches a changelog partition's records (see changelog_reader.ChangelogReader)."""

    async def fetch(self, tp: TopicPartition, offset: int) -> tuple[Sequence[Row], int]: ...


class FlushFailed(Exception):
    """The restored databases could not be flushed: nothing may write to them after."""


class ReaderClient(Reader, Protocol):
    """A Reader with its connection: started before the first fetch, stopped after."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def restore(
    reader: Reader,
    items: Sequence[Backlog],
    offsets: MutableMapping[TP, int],
    current: Callable[[], bool],
    stall_s: float,
    writes: RestoreWrites | None = None,
) -> bool:
    """Read each backlog with a started reader, one partition at a time (only
    one store takes writes at once), and apply it in batches, each written while the next
    is fetched. Stops, returning False, as soon as `current()` turns false (a rebalance
    began) or a partition makes no progress for `stall_s` seconds; what was applied up to
    then stays, with its offsets. Without `writes`, it makes its own and closes it."""
    if writes is None:
        writes = RestoreWrites(offsets)
        try:
            return await restore(reader, items, offsets, current, stall_s, writes)
        finally:
            writes.close()
    progress = Progress(items)
    try:
        for backlog in items:
            if not await _restore_one(reader, backlog, writes, progress, current, stall_s):
                return False
    finally:
        await writes.drain()
    log.info("bulk restore: %s", progress.summary())
    return True


async def _restore_one(
    reader: Reader,
    backlog: Backlog,
    writes: RestoreWrites,
    progress: Progress,
    current: Callable[[], bool],
    stall_s: float,
) -> bool:
    tp = TopicPartition(backlog.tp.topic, backlog.tp.partition)
    moved_at = time.monotonic()
    position = backlog.start
    ahead: asyncio.Task[tuple[Sequence[Row], int]] | None = None
    try:
        while position < backlog.end:
            rows, now_at = await (ahead or reader.fetch(tp, position))
            ahead = None
            if not current():
                await writes.drain()
                log.info("bulk restore stopped by a rebalance after %s", progress.summary())
                return False
            if position < now_at < backlog.end:  # the next fetch runs while this one is written
                ahead = asyncio.ensure_future(reader.fetch(tp, now_at))
            if rows and rows[-1].offset >= backlog.end:
                rows = [r for r in rows if r.offset < backlog.end]
            if rows:
                await writes.put(backlog, rows)
                progress.tick(backlog)
            del rows  # not held while the next fetch is read
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
    finally:
        if ahead is not None:  # stopped early: the fetch ahead is of no use
            ahead.cancel()
            ahead.add_done_callback(_retrieved)
    writes.finish(backlog)
    return True


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Take a cancelled fetch's outcome, so that asyncio does not log it as unretrieved."""
    if not task.cancelled():
        task.exception()


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

    def reader(self) -> ReaderClient:
        """A new client to read the changelogs with."""
        return ChangelogReader(self.client_kwargs, FETCH_BYTES, FETCH_WAIT_MS)

    async def bulk_restore(self, tps: set[TP], offsets: Any) -> None:
        """Restore the partitions' backlogs, if there is enough to be worth a client; after
        a broker error, again from where it stopped (up to ATTEMPTS times in all)."""
        app = self.app
        if app.in_transaction or app.tracer is not None:
            return  # aborted transactions and traced steps: faust's path
        rebalances = app.rebalancing_count

        def current() -> bool:
            return bool(app.rebalancing_count == rebalances and not self.should_stop)

        try:
            async for trial in AsyncRetrying(
                stop=stop_after_attempt(ATTEMPTS),
                wait=wait_exponential(multiplier=RETRY_WAIT_S),
                retry=retry_if_exception_type(TRANSIENT) & retry_if_exception(lambda _: current()),
                before_sleep=_log_retry,
                reraise=True,
            ):
                with trial:
                    await self._restore_backlogs(tps, offsets, current)
        except FlushFailed:
            raise  # faust's recovery stops: writing on top of unflushed data is unsafe
        except Exception as exc:  # faust's recovery would stop for good; its path works
            log.warning("bulk restore failed (%r); faust's recovery reads the rest", exc)

    async def _restore_backlogs(
        self, tps: set[TP], offsets: Any, current: Callable[[], bool]
    ) -> None:
        items = backlogs(tps, self.tp_to_table, self.active_highwaters, offsets)
        if sum(b.total for b in items) < MIN_BACKLOG:
            return
        reader = self.reader()
        log.info(
            "bulk restore of %s records from %d changelog partitions",
            f"{sum(b.total for b in items):,}",
            len(items),
        )
        writes = RestoreWrites(offsets)
        try:
            try:
                await reader.start()
                await restore(reader, items, offsets, current, STALL_S, writes)
            finally:
                await reader.stop()
        finally:
            # Before faust (or anything) writes again with the WAL; a failed flush raises.
            try:
                writes.close()
            except Exception as exc:
                raise FlushFailed(f"flushing the restored partitions failed: {exc!r}") from exc


def _log_retry(state: RetryCallState) -> None:
    """One line before the next attempt: what failed and when the next one starts."""
    wait_s = state.next_action.sleep if state.next_action is not None else 0.0
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "bulk restore attempt %d of %d failed (%r); again in %gs from the offsets written",
        state.attempt_number,
        ATTEMPTS,
        error,
        wait_s,
    )


class BulkRestoreTableManager(TableManager):  # type: ignore[misc]
    """faust's TableManager, recovering with BulkRestoreRecovery (see table_manager)."""

    client_kwargs: Mapping[str, Any] = {}
    _recovery: BulkRestoreRecovery | None = None

    async def on_start(self) -> None:
        """faust's start without its first second of sleep, which lets tables be defined
        after the app starts; leadq defines its tables when it builds the app, and faust
        refuses a table defined later ("Too late to add tables")."""
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()

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
    """The class to pass as faust's `TableManager` setting; its restore client connects
    with these aiokafka keyword arguments (see streams.worker.kafka_clients)."""

    class Manager(BulkRestoreTableManager):
        pass

    Manager.client_kwargs = dict(client_kwargs)
    return Manager
