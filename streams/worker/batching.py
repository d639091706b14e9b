"""Batching of re-keyed events: one events-by-lead record per partition and ingest batch."""

from __future__ import annotations

from typing import Any, Final

from streams.worker.codec import RekeyFormat, join_rekeyed
from streams.worker.topics import partition_of

REKEY_BATCH: Final = 500  # input events the ingest loop re-keys at most at a time
# A record stays below this size when it can (one event may be larger; Kafka's default
# limit of 1 MB per record is far above the 256 KB an input event may have).
REKEY_RECORD_BYTES: Final = 512 * 1024
# ... and holds at most this many events: the qualify agent stores up to one state per
# event of a record at once, and faust throttles its consumer (with a warning) while more
# than 100 table writes wait in its producer buffer.
REKEY_RECORD_EVENTS: Final = 100


class RekeyBuffer:
    """The re-keyed events of one ingest batch, grouped by events-by-lead partition, in order.

    The partition is the one Kafka's default partitioner gives the lead's key, as when each
    event was sent on its own with that key, so a lead's state stays in its partition.
    """

    def __init__(self, partitions: int, form: RekeyFormat = "compact") -> None:
        self.partitions = partitions
        self.form = form  # of the records (and of the entries added)
        self.items: dict[int, list[bytes]] = {}
        self.sizes: dict[int, int] = {}

    def add(self, key: str, item: bytes) -> list[dict[str, Any]]:
        """Add an event (its rekeyed_item entry, re-partitioned by key); return records to
        send first (its partition's, if full)."""
        partition = partition_of(key.encode(), self.partitions)
        items = self.items.get(partition)
        if items is not None and (
            self.sizes[partition] + len(item) <= REKEY_RECORD_BYTES
            and len(items) < REKEY_RECORD_EVENTS
        ):
            items.append(item)
            self.sizes[partition] += len(item)
            return []
        ready = [] if items is None else [self._record(partition)]
        self.items[partition] = [item]
        self.sizes[partition] = len(item)
        return ready

    def drain(self) -> list[dict[str, Any]]:
        """The remaining records (keyword arguments of Topic.send), one per partition."""
        return [self._record(partition) for partition in sorted(self.items)]

    def _record(self, partition: int) -> dict[str, Any]:
        items = self.items.pop(partition)
        del self.sizes[partition]
        return {"key": None, "value": join_rekeyed(items, self.form), "partition": partition}
