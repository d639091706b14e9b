"""The compact events-by-lead record: msgpack items behind a marker byte no JSON record has."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta, timezone, tzinfo
from typing import Any, Final

import msgspec

from streams.core.events import LeadEvent, event_origin, lead_event

# The first byte of a compact record: 0xc1 begins no msgpack value ("never used" in the
# msgpack format) and no JSON text, so a record of the earlier JSON form (which begins
# with "[" or "{", as a timer tick does) is never taken for one.
MARKER: Final = b"\xc1"

# A record is MARKER, then a msgpack array of items, one per event in order, each an array:
# [partition key, event id, type, occurred_at (a msgpack timestamp: the instant), its UTC
#  offset in microseconds (nil for UTC), lead id, anonymous id, properties, merged_from,
#  origin topic kind, origin partition, origin offset, origin Kafka timestamp]; absent
# values are nil (an event without an origin has nil for its four fields). The instant and
# its offset give back the event's datetime with the time zone it had (datetime.isoformat
# costs more than the rest of an item's encoding).
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode
_UTC: Final = UTC
_MICROSECOND: Final = timedelta(microseconds=1)
_ZONES: dict[int, tzinfo] = {}  # by offset in microseconds: a handful at most

ENCODE_ERRORS: Final = (TypeError, ValueError, OverflowError, msgspec.EncodeError)
"""What encode_item raises for an event it cannot carry (an integer beyond 64 bits, a
string that is not valid Unicode)."""


def encode_item(key: str, event: LeadEvent) -> bytes:
    """One event of a compact record, with the key it is re-partitioned by (raises one of
    ENCODE_ERRORS if it cannot be carried)."""
    at = event.occurred_at
    offset_us: int | None = None
    if at.tzinfo is not _UTC:
        utc_offset = at.utcoffset()
        assert utc_offset is not None  # an event's time is aware (its at_ms needs it)
        offset_us = utc_offset // _MICROSECOND
    origin = event.origin
    if origin is None:
        topic = partition = offset = produced_ms = None
    else:
        topic, partition, offset = origin.topic, origin.partition, origin.offset
        produced_ms = origin.produced_ms
    return _encode(
        (
            key,
            event.event_id,
            event.type,
            at,
            offset_us,
            event.lead_id,
            event.anonymous_id,
            event.properties,
            event.merged_from,
            topic,
            partition,
            offset,
            produced_ms,
        )
    )


def join_items(items: Sequence[bytes]) -> bytes:
    """A compact record of encode_item entries (at most 65,535), in order."""
    count = len(items)
    if count < 16:
        header = bytes((0x90 | count,))  # fixarray
    elif count <= 0xFFFF:
        header = b"\xdc" + count.to_bytes(2, "big")  # array 16
    else:
        raise ValueError(f"a compact record holds at most 65,535 events, not {count}")
    return MARKER + header + b"".join(items)


def is_compact(raw: bytes) -> bool:
    """Whether a by-lead record is a compact one (else it is JSON: events or a tick)."""
    return raw[:1] == MARKER


def decode_items(raw: bytes) -> list[tuple[str, LeadEvent]]:
    """The (partition key, event) pairs of a compact record, in order."""
    items: list[list[Any]] = _decode(memoryview(raw)[1:])
    return [
        (
            key,
            lead_event(
                event_id,
                type_,
                at if offset_us is None else at.astimezone(_zone(offset_us)),
                lead_id,
                anonymous_id,
                properties,
                merged_from,
                None if topic is None else event_origin(topic, partition, offset, produced_ms),
            ),
        )
        for (
            key,
            event_id,
            type_,
            at,
            offset_us,
            lead_id,
            anonymous_id,
            properties,
            merged_from,
            topic,
            partition,
            offset,
            produced_ms,
        ) in items
    ]


def _zone(offset_us: int) -> tzinfo:
    """The standard library's time zone of a UTC offset (as datetime.fromisoformat gives)."""
    zone = _ZONES.get(offset_us)
    if zone is None:
        zone = _ZONES[offset_us] = timezone(offset_us * _MICROSECOND)
    return zone


def item_event_ids(raw: bytes, inputs_only: bool = False) -> list[str]:
    """The event ids of a compact record; with inputs_only, not those of events a visitor
    handed over to its lead (merged_from set)."""
    items: list[list[Any]] = _decode(memoryview(raw)[1:])
    return [str(item[1]) for item in items if not (inputs_only and item[8] is not None)]
