"""A faust table's local store (RocksDB partitions, or memory), read and written directly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import faust
from faust.types import TP


class LocalStore:
    """Reads and writes of a table's local store without faust's per-key table path.

    With RocksDB, a key lives in the database of its partition (as faust's own `_set` and
    `_get` place it); writes of one call go to each partition in one write batch. The
    memory store is a mapping.
    """

    def __init__(self, table: faust.Table) -> None:
        self.store: Any = table.data
        self.rocksdb = hasattr(self.store, "_db_for_partition")

    def read(self, key: bytes, partition: int) -> bytes | None:
        """A key's value in a partition, or None."""
        store = self.store
        if not self.rocksdb:
            found: bytes | None = store.get(key)
            return found
        raw: bytes | None = store._db_for_partition(partition).get(key)
        if raw is not None:
            store._key_index[key] = partition  # as faust's _get: where to find it later
        return raw

    def write(self, writes: Iterable[tuple[int, bytes, bytes]]) -> None:
        """Write (partition, key, value) triples, one batch per partition."""
        store = self.store
        if not self.rocksdb:
            for _, key, value in writes:
                store[key] = value
            return
        batches: dict[int, Any] = {}
        for partition, key, value in writes:
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = self._batch()
            batch.put(key, value)
            store._key_index[key] = partition
        for partition, batch in batches.items():
            store._db_for_partition(partition).write(batch)

    def persist_offset(self, tp: TP, offset: int) -> None:
        """Record a changelog offset as written (recovery resumes reading after it)."""
        self.store.set_persisted_offset(tp, offset)

    def _batch(self) -> Any:
        """A write batch of the binding the store uses, as faust's apply_changelog_batch."""
        if self.store.use_rocksdict:
            import rocksdict

            return rocksdict.WriteBatch(raw_mode=True)
        import rocksdb

        return rocksdb.WriteBatch()
