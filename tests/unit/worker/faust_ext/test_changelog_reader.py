"""Fetched record sets unpacked into changelog records: offsets, tombstones, next offset, CRCs."""

from __future__ import annotations

import struct

import pytest
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from streams.worker.faust_ext.changelog_reader import unpack


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
