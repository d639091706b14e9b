"""A faust table's local store (RocksDB partitions, or memory), read and written directly."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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

    def item_slices(self, size: int) -> Iterator[list[tuple[bytes, bytes]]]:
        """Every (key, value) of the partitions assigned now, in lists of at most `size`.

        Safe to go on with across awaits while keys are written and partitions reassigned:
        no database is held between lists (each list is read with an iterator of its own,
        from the key after the last one read), and a partition revoked meanwhile ends there.
        """
        store = self.store
        if not self.rocksdb:
            items = list(store.items())
            for start in range(0, len(items), size):
                yield items[start : start + size]
            return
        topic = store.table.changelog_topic_name
        actives = store.app.assignor.assigned_actives()
        partitions = [p for p in list(store._dbs) if TP(topic, p) in actives]
        for partition in partitions:
            after: bytes | None = None
            while (db := store._dbs.get(partition)) is not None:
                found = self._read_after(db, after, size)
                del db  # not held while the caller awaits
                if found:
                    yield found
                    after = found[-1][0]
                if len(found) < size:
                    break

    def _read_after(self, db: Any, after: bytes | None, size: int) -> list[tuple[bytes, bytes]]:
        """Up to `size` (key, value) pairs of a partition's database, from the first key
        after `after` (or the first key), leaving out faust's persisted offset."""
        store = self.store
        if store.use_rocksdict:
            it = db.items(from_key=after) if after is not None else db.items()
        else:
            it = db.iteritems()
            if after is None:
                it.seek_to_first()
            else:
                it.seek(after)
        found: list[tuple[bytes, bytes]] = []
        for key, value in it:
            if key == after or key == store.offset_key:
                continue
            found.append((key, value))
            if len(found) == size:
                break
        return found

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
