"""On the real broker: every dead letter, whichever stage rejected it, is the input message
as it was produced (input topic, partition, offset, key and bytes), with the reason."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas.decode import MAX_VALUE_BYTES
from streams.core.ruleset import preset_texts
from streams.settings import Settings
from tests.support.kafka import collect, running_workers

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

T0 = "2026-03-02T09:00:00+00:00"
LATER = "2026-03-05T09:00:00+00:00"


def event(event_id: str, type_: str, when: str = T0, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": type_, "occurred_at": when, **fields}


PAGE = event("p", "page_view", lead_id="L-1", properties={"url": "/pricing"})

# (reason code, input topic, key, value): one message rejected with each reason code. The
# qualify stage's codes need an earlier message of the same key (same partition, so read
# first): a recent event before a too-late one; a visitor's first identify before a second.
MESSAGES: list[tuple[str, str, bytes | None, bytes]] = [
    ("empty_value", "leads.website", b"k-empty", b""),
    ("too_large", "leads.email", b"k-large", b'{"x":"' + b"y" * MAX_VALUE_BYTES + b'"}'),
    ("invalid_utf8", "leads.call", b"k-utf8", b'{"event_id":"\xff"}'),
    ("invalid_json", "leads.website", None, b"{oops"),
    ("not_an_object", "leads.website", b"k-array", b"[1,2]"),
    ("missing_field", "leads.website", b"k-miss", orjson.dumps({"type": "page_view"})),
    ("unknown_type", "leads.website", b"k-type", orjson.dumps({**PAGE, "type": "teleport"})),
    ("wrong_type", "leads.website", b"k-wrong", orjson.dumps({**PAGE, "event_id": 5})),
    (
        "invalid_value",
        "leads.website",
        b"k-value",
        orjson.dumps({**PAGE, "properties": {"url": "/", "category": "nope"}}),
    ),
    (
        "from_future",
        "leads.website",
        b"k-future",
        orjson.dumps({**PAGE, "event_id": "f", "occurred_at": "2099-01-01T00:00:00+00:00"}),
    ),
    (
        "",  # accepted: the lead's latest event
        "leads.website",
        b"L-5",
        orjson.dumps(event("p2", "page_view", LATER, lead_id="L-5", properties={"url": "/"})),
    ),
    (
        "too_late",
        "leads.website",
        b"L-5",
        orjson.dumps(event("p1", "page_view", lead_id="L-5", properties={"url": "/"})),
    ),
    (
        "",  # accepted: the visitor's first identify
        "leads.website",
        b"v-9",
        orjson.dumps(event("i1", "identify", anonymous_id="v-9", lead_id="L-3")),
    ),
    (
        "identity_conflict",
        "leads.website",
        b"v-9",
        orjson.dumps(event("i2", "identify", anonymous_id="v-9", lead_id="L-4")),
    ),
]


async def produce_all(settings: Settings) -> dict[str, tuple[str, int, int]]:
    """Produce MESSAGES in order; the coordinates (topic, partition, offset) of each rejected
    one, by its reason code."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_list, acks="all", max_request_size=2**21
    )
    await producer.start()
    try:
        where = {}
        for code, topic, key, value in MESSAGES:
            meta = await producer.send_and_wait(settings.topic(topic), value, key=key)
            if code:
                where[code] = (meta.topic, meta.partition, meta.offset)
        return where
    finally:
        await producer.stop()


async def test_every_dead_letter_carries_the_input_message_as_produced(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    rules = tmp_path / "late-dead-letter.toml"
    rules.write_text(
        preset_texts()["startup"].replace('late_events = "accept"', 'late_events = "dead_letter"')
    )
    settings = make_settings(rules=str(rules))
    rejected = [m for m in MESSAGES if m[0]]
    async with running_workers(settings):
        where = await produce_all(settings)
        letters = await collect(
            settings, "leads.dead-letter", until=lambda r: len(r) >= len(rejected), settle_s=1.0
        )
    by_code = {letter["error"]["code"]: letter for letter in letters}
    assert sorted(by_code) == sorted(code for code, *_ in rejected)
    assert len(letters) == len(rejected)
    for code, topic, key, value in rejected:
        letter = by_code[code]
        assert (letter["source_topic"], letter["partition"], letter["offset"]) == where[code]
        assert letter["source_topic"] == settings.topic(topic), code
        assert letter["key"] == (None if key is None else key.decode()), code
        assert letter["error"]["message"], code
        stored = letter["value"]
        raw = (
            base64.b64decode(stored)
            if letter.get("value_encoding") == "base64"
            else stored.encode()
        )
        if letter.get("value_truncated"):  # a value too large to keep whole: its start
            assert letter["value_size"] == len(value)
            assert value.startswith(raw), code
        else:
            assert raw == value, code
