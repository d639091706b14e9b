"""The changelog reader: record sets unpacked (offsets, tombstones, CRCs), fetch answers."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import (
    CorruptRecordException,
    NotLeaderForPartitionError,
    OffsetOutOfRangeError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from streams.worker.faust_ext.changelog_reader import ChangelogReader, unpack


def batch(base: int, rows: list[tuple[bytes, bytes | None]]) -> bytes:
    """A record batch as the broker stores it, its first record at offset `base`."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for delta, (key, value) in enumerate(rows):
        builder.append(delta, timestamp=0, key=key, value=value, headers=[])
    built = bytes(builder.build())
    return struct.pack(">q", base) + built[8:]  # the base offset is outside the CRC


def test_records_from_the_offset_on_with_tombstones_and_the_offset_to_fetch_next() -> None:
    data = batch(10, [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]) + batch(13, [(b"a", None)])
    rows, following = unpack(data, 11)  # the fetch began inside the first batch
    assert [(r.offset, r.key, r.value) for r in rows] == [
        (11, b"b", b"2"),
        (12, b"c", b"3"),
        (13, b"a", None),
    ]
    assert following == 14


def test_an_empty_record_set_leaves_the_offset_where_it_was() -> None:
    assert unpack(b"", 42) == ([], 42)


def test_a_truncated_last_batch_is_left_for_the_next_fetch() -> None:
    whole = batch(0, [(b"a", b"1")])
    rows, following = unpack(whole + batch(1, [(b"b", b"2")])[:-3], 0)
    assert [r.offset for r in rows] == [0]
    assert following == 1


def test_a_corrupt_batch_raises() -> None:
    data = bytearray(batch(0, [(b"a", b"value")]))
    data[-3] ^= 0xFF  # a byte of the value
    with pytest.raises(CorruptRecordException):
        unpack(bytes(data), 0)


@dataclass
class Answer:
    """A fetch response as aiokafka decodes it (v5 on): one partition's fields."""

    error_code: int
    log_start: int
    records: bytes
    API_VERSION: int = 11

    @property
    def topics(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        # partition, error, highwater, last stable, log start, aborted, replica, records
        row = (0, self.error_code, 99, 99, self.log_start, None, -1, self.records)
        return [("changelog", [row])]


def reader_answering(answer: Answer, monkeypatch: pytest.MonkeyPatch) -> ChangelogReader:
    reader = ChangelogReader({"bootstrap_servers": "127.0.0.1:1"}, 1 << 20, 10)
    monkeypatch.setattr(reader.client.cluster, "leader_for_partition", lambda tp: 1)

    async def send(node: int, request: Any) -> Answer:
        return answer

    monkeypatch.setattr(reader.client, "send", send)
    return reader


@pytest.mark.asyncio
async def test_a_fetch_below_the_log_start_moves_to_the_log_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = reader_answering(Answer(OffsetOutOfRangeError.errno, 40, b""), monkeypatch)
    assert await reader.fetch(TopicPartition("changelog", 0), 0) == ([], 40)


@pytest.mark.asyncio
async def test_a_fetch_error_of_the_broker_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = reader_answering(Answer(NotLeaderForPartitionError.errno, 0, b""), monkeypatch)
    with pytest.raises(NotLeaderForPartitionError):
        await reader.fetch(TopicPartition("changelog", 0), 0)


@pytest.mark.asyncio
async def test_a_fetch_hands_out_its_records_and_the_next_offset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = reader_answering(Answer(0, 0, batch(5, [(b"a", b"1"), (b"b", b"2")])), monkeypatch)
    rows, following = await reader.fetch(TopicPartition("changelog", 0), 5)
    assert [(r.offset, r.key) for r in rows] == [(5, b"a"), (6, b"b")]
    assert following == 7
