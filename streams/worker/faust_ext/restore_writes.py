"""Restored changelog batches written to a table's store: RocksDB without its WAL, flushed."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import rocksdict
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP


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


class Row(Protocol):
    """A fetched changelog record (aiokafka's ConsumerRecord has these fields)."""

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


class Target(Protocol):
    """What a restore writes for: a changelog partition, its table, a count of records."""

    tp: TP
    table: Any
    restored: int


def without_wal() -> rocksdict.WriteOptions:
    """Write options that skip RocksDB's write-ahead log."""
    options = rocksdict.WriteOptions()
    options.disable_wal = True  # type: ignore[method-assign, assignment]  # a property
    return options


def wal_free(table: Any) -> bool:
    """Whether a table's store takes restored batches without the WAL (faust's RocksDB
    store on rocksdict); other stores get faust's apply_changelog_batch."""
    store = table.data
    return isinstance(store, RocksDBStore) and bool(store.use_rocksdict)


def rocks_batch(store: Any, rows: Sequence[Row]) -> Any:
    """One write batch: the rows (tombstones delete) and, in the same batch, the last
    row's offset as faust's persisted offset (faust's offset key and format)."""
    batch = rocksdict.WriteBatch(raw_mode=True)
    put, delete = batch.put, batch.delete
    for row in rows:  # a table's changelog records have keys (None fails, as in faust)
        if row.value is None:
            delete(row.key)  # type: ignore[arg-type]
        else:
            put(row.key, row.value)  # type: ignore[arg-type]
    batch.put(store.offset_key, str(rows[-1].offset).encode())
    return batch


@dataclass
class Pending:
    """A batch being written: its target, size, last offset and the write."""

    target: Target
    count: int
    last: int
    future: concurrent.futures.Future[None]


class RestoreWrites:
    """Writes restored batches, one at a time in a thread of its own (rocksdict releases
    the GIL while it writes, so the next fetch is decoded meanwhile).

    RocksDB batches skip the WAL; `close` waits for every write and flushes every database
    written, and must run before anything else writes to them (see guarantees.md). A
    batch's offset counts (in `offsets` and the target's count) once its write is done.
    """

    def __init__(self, offsets: MutableMapping[TP, int]) -> None:
        self.offsets = offsets
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "bulk-restore-write")
        self._options = without_wal()
        self._pending: Pending | None = None
        self._submitted: list[concurrent.futures.Future[Any]] = []
        self._dbs: dict[int, Any] = {}

    async def put(self, target: Target, rows: Sequence[Row]) -> None:
        """Write a batch (after the one before it is done); a failed write raises here or
        at the next call, and its offset is not counted."""
        await self.drain()
        store = target.table.data
        if not wal_free(target.table):
            tp = target.tp
            target.table.apply_changelog_batch(
                [ChangelogRecord(tp, r.offset, r.key, r.value) for r in rows]
            )
            self._count(target, len(rows), rows[-1].offset)
            return
        db = store._db_for_partition(target.tp.partition)
        self._dbs[id(db)] = db
        future = self._submit(db.write, rocks_batch(store, rows), self._options)
        self._pending = Pending(target, len(rows), rows[-1].offset, future)

    async def drain(self) -> None:
        """Wait for the batch being written, and count it."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await asyncio.wrap_future(pending.future)
            self._count(pending.target, pending.count, pending.last)

    def finish(self, target: Target) -> None:
        """A partition is done: flush its database in the write thread (its memtables
        leave memory while the next partition is fetched)."""
        if wal_free(target.table):
            db = target.table.data._db_for_partition(target.tp.partition)
            self._submit(db.flush, True)

    def close(self) -> None:
        """Wait (blocking) for every write, then flush every database written. Raises if a
        flush fails: the worker must then stop, as later WAL'd writes would be unsafe."""
        concurrent.futures.wait(self._submitted)
        self._thread.shutdown(wait=True)
        self._pending = None
        for db in self._dbs.values():
            db.flush(True)
        self._dbs.clear()

    def _submit(self, fn: Any, *args: Any) -> concurrent.futures.Future[Any]:
        future = self._thread.submit(fn, *args)
        self._submitted = [f for f in self._submitted if not f.done()]
        self._submitted.append(future)
        return future

    def _count(self, target: Target, count: int, last: int) -> None:
        self.offsets[target.tp] = last
        target.restored += count
