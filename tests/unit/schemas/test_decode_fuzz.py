"""Property tests of input validation: decode never raises, and answers in documented terms."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.decode import (
    MAX_VALUE_BYTES,
    REJECTION_CODES,
    TOPIC_KINDS,
    Decoded,
    Rejection,
    TopicKind,
    decode,
)
from schemas.events import LeadEnvelope, ProfileRecord, WebsiteEnvelope
from streams.worker.codec import decode_lead_event, encode_lead_event, to_lead_event
from tests.support.fuzz_messages import (
    CATEGORIES,
    FuzzMessage,
    accepted,
    draw_corpus,
    dumps,
    event_dicts,
    json_documents,
    messages,
    rfc3339,
    unique_id,
)

kinds = st.sampled_from(TOPIC_KINDS)
fuzz_settings = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_answer(kind: TopicKind, raw: bytes | None) -> Decoded | Rejection:
    """decode() returns (never raises) a contract model or a documented rejection."""
    result = decode(kind, raw)
    if isinstance(result, Rejection):
        assert result.code in REJECTION_CODES, result
        assert isinstance(result.message, str)
        assert result.message.strip(), result
    else:
        assert isinstance(result, WebsiteEnvelope | LeadEnvelope | ProfileRecord)
        assert (kind == "profile") == isinstance(result, ProfileRecord)
    return result


@fuzz_settings
@given(kind=kinds, raw=st.binary(max_size=2000))
@example(kind="website", raw=b"")
@example(kind="email", raw=b"\x00")
@example(kind="call", raw=b"\xff\xfe")
@example(kind="profile", raw=b"null")
@example(kind="call", raw=b"[" * 50_000)
def test_decode_answers_arbitrary_bytes(kind: TopicKind, raw: bytes) -> None:
    check_answer(kind, raw)


@fuzz_settings
@given(kind=kinds, raw=json_documents)
def test_decode_answers_arbitrary_json(kind: TopicKind, raw: bytes) -> None:
    result = check_answer(kind, raw)
    if isinstance(result, Rejection):
        assert result.code not in ("invalid_json", "invalid_utf8", "empty_value"), result


@fuzz_settings
@given(labelled=messages())
def test_decode_answers_every_fuzz_category(labelled: tuple[str, FuzzMessage]) -> None:
    _, message = labelled
    check_answer(message.kind, message.value)
    assert message.expected_valid == accepted(message.kind, message.value)


@fuzz_settings
@given(
    kind=kinds,
    prefix=st.binary(max_size=50),
    bad=st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80"]),
)
def test_invalid_utf8_is_never_accepted(kind: TopicKind, prefix: bytes, bad: bytes) -> None:
    result = check_answer(kind, prefix + bad)
    assert isinstance(result, Rejection)
    assert result.code in ("invalid_utf8", "too_large"), result


@pytest.mark.parametrize(
    ("size", "code"),
    [
        (MAX_VALUE_BYTES, "invalid_json"),
        (MAX_VALUE_BYTES + 1, "too_large"),
        (1_000_000, "too_large"),
    ],
)
def test_size_limit(size: int, code: str) -> None:
    result = check_answer("website", b"x" * size)
    assert isinstance(result, Rejection)
    assert result.code == code


@fuzz_settings
@given(
    event=st.sampled_from(TOPIC_KINDS).flatmap(lambda k: event_dicts(kind=k)),
    timestamp=rfc3339(st.sampled_from([1, 9999]) | st.integers(1, 9999)),
)
@example(
    event=(
        "call",
        {
            "event_id": "e",
            "lead_id": "l",
            "type": "meeting_held",
            "occurred_at": "",
            "properties": {"kind": "demo"},
        },
    ),
    timestamp="0001-01-01T00:00:00Z",
)
@example(
    event=("email", {"event_id": "e", "lead_id": "l", "type": "email_sent", "occurred_at": ""}),
    timestamp="9999-12-31T23:59:59.999999999-23:59",
)
@example(
    event=("profile", {"lead_id": "l", "updated_at": ""}), timestamp="0001-01-01t00:00:00+23:59"
)
def test_every_rfc3339_timestamp_in_years_1_to_9999_is_accepted(
    event: tuple[TopicKind, dict[str, object]], timestamp: str
) -> None:
    """The contract asks for RFC 3339 with an offset; nothing narrows the range of years."""
    kind, body = event
    body = {**body, ("updated_at" if kind == "profile" else "occurred_at"): timestamp}
    result = check_answer(kind, dumps(body))
    assert not isinstance(result, Rejection), (timestamp, result)


@fuzz_settings
@given(event=event_dicts(weird=True))
@example(
    event=(
        "profile",
        {"lead_id": "l", "updated_at": "2026-03-01T10:00:00Z", "company_size": 10**30},
    )
)
def test_accepted_events_survive_the_internal_topic_unchanged(
    event: tuple[TopicKind, dict[str, object]],
) -> None:
    """What the ingest agents put on the internal topic is what the qualifier gets back.

    An accepted event the worker cannot encode is lost (its ingest agent crashes and faust
    acks it); one that changes on the way is qualified on other facts than the reference's.
    """
    kind, body = event
    result = check_answer(kind, dumps(body))
    if isinstance(result, Rejection):
        return  # rejecting what cannot be carried (e.g. a 10**30 company size) is fine
    lead_event = to_lead_event(result)
    assert decode_lead_event(encode_lead_event(lead_event)) == lead_event


def test_accepted_infinite_duration_survives_the_internal_topic() -> None:
    raw = (
        b'{"event_id":"e","lead_id":"l","type":"call_completed","occurred_at":'
        b'"2026-03-01T10:00:00Z","properties":{"direction":"inbound","duration_s":1e999,'
        b'"outcome":"connected"}}'
    )
    result = check_answer("call", raw)
    if isinstance(result, Rejection):
        return  # rejecting a non-finite duration is a fine answer too
    lead_event = to_lead_event(result)
    assert decode_lead_event(encode_lead_event(lead_event)) == lead_event


def test_fuzz_corpus_is_deterministic_and_covers_every_category() -> None:
    counts = dict.fromkeys(CATEGORIES, 12)
    first = draw_corpus(counts, seed_value=7)
    assert first == draw_corpus(counts, seed_value=7)
    assert {category for category, _ in first} == set(CATEGORIES)
    assert any(m.expected_valid for _, m in first)
    assert any(not m.expected_valid for _, m in first)
    for _, message in first:
        assert message.expected_valid == accepted(message.kind, message.value)


def test_generated_ids_keep_their_length_as_the_serial_number_grows() -> None:
    # Hypothesis replays a failing case's choices: a draw bounded by a message's length
    # must see the same length again, whatever the serial number has come to.
    assert {len(unique_id("a")) for _ in range(200)} == {len("fz0000000.a")}
