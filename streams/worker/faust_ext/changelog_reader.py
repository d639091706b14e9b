"""Raw changelog fetches for the bulk restore: aiokafka's record batches, no record objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    NoError,
    OffsetOutOfRangeError,
    for_code,
)
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

from streams.worker.faust_ext.restore_writes import Row

READ_UNCOMMITTED = 0  # a non-transactional changelog (transactional apps use faust's path)


def unpack(data: bytes, offset: int) -> tuple[list[Row], int]:
    """The records of a fetched record set from `offset` on (control batches skipped,
    CRCs checked), and the offset to fetch next. aiokafka's C record batches hand out
    their records (offset, key, value) as they are; no consumer record is built."""
    rows: list[Row] = []
    records = MemoryRecords(data)
    following = offset
    while records.has_next():
        batch = records.next_batch()
        if batch is None:
            break
        if not batch.validate_crc():
            raise CorruptRecordException(f"invalid CRC in a changelog batch at {offset}")
        if not batch.is_control_batch:
            if batch.base_offset >= offset:
                rows.extend(batch)
            else:  # the fetch began inside this batch
                rows.extend(r for r in batch if r.offset >= offset)
        following = max(following, batch.next_offset)
    return rows, following


class ChangelogReader:
    """Fetches one changelog partition at a time from its leader with a plain aiokafka
    client. Any error of the broker raises (the bulk restore then tries again from the
    offsets it wrote, and after its last attempt leaves the rest to faust's recovery)."""

    def __init__(self, client_kwargs: Mapping[str, Any], fetch_bytes: int, wait_ms: int) -> None:
        self.client = AIOKafkaClient(**client_kwargs)
        self.fetch_bytes = fetch_bytes
        self.wait_ms = wait_ms

    async def start(self) -> None:
        """Connect and read the cluster's metadata."""
        await self.client.bootstrap()

    async def stop(self) -> None:
        """Close the connections."""
        await self.client.close()

    async def fetch(self, tp: TopicPartition, offset: int) -> tuple[Sequence[Row], int]:
        """The records of one fetch from `offset` on, and the offset to fetch next (the
        same offset, and no records, if the broker had none within the wait; the log's
        start, and no records, if the log now starts after `offset`, as a consumer
        resetting to the earliest offset would)."""
        node = await self._leader(tp)
        request = FetchRequest(
            self.wait_ms,
            1,
            self.fetch_bytes,
            READ_UNCOMMITTED,
            [(tp.topic, [(tp.partition, offset, self.fetch_bytes)])],
        )
        response = await self.client.send(node, request)
        for _, partitions in response.topics:
            for _, error_code, _, *part_data in partitions:
                error = for_code(error_code)
                # part_data from v5 on: last stable offset, log start offset, ...
                if error is OffsetOutOfRangeError and response.API_VERSION >= 5:
                    log_start = int(part_data[1])
                    if log_start > offset:
                        return [], log_start
                if error is not NoError:
                    raise error(f"fetching {tp.topic}[{tp.partition}] at {offset}")
                return unpack(part_data[-1], offset)
        raise KafkaError(f"no fetch response for {tp.topic}[{tp.partition}]")

    async def _leader(self, tp: TopicPartition) -> int:
        node: int | None = self.client.cluster.leader_for_partition(tp)
        if node is None or node < 0:
            await self.client.set_topics([tp.topic])
            node = self.client.cluster.leader_for_partition(tp)
        if node is None or node < 0:
            raise KafkaError(f"no leader known for {tp.topic}[{tp.partition}]")
        return node
