"""Encoding of the events-by-lead topic (compact, see rekey_format.py, or the earlier JSON),
table state, stage changes, SLA events and dead letters (orjson)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime, timezone
from typing import Any, Literal, NamedTuple

import orjson

from schemas.decode import Decoded, Rejection, TopicKind, decode
from schemas.events import PROFILE_FIELDS, ProfileRecord, WebsiteEnvelope
from streams.core.events import (
    EventOrigin,
    LeadEvent,
    StageChanged,
    event_origin,
    lead_event,
)
from streams.core.qualify import routing_key
from streams.core.sla import SlaEvent
from streams.core.state import LeadState
from streams.worker.cloudevents import SLA_TYPES, STAGE_CHANGED, Headers, binary_headers
from streams.worker.fast_decode import fast_lead_event
from streams.worker.rekey_format import (
    decode_items,
    encode_item,
    is_compact,
    item_event_ids,
    join_items,
)

# A dead letter keeps at most this much of the rejected value (JSON escaping can grow it
# six-fold), so that it always fits in one Kafka record.
DEAD_LETTER_VALUE_BYTES = 64 * 1024


def read_lead_event(
    kind: TopicKind, raw: bytes | None, origin: EventOrigin | None = None
) -> LeadEvent | Rejection:
    """The core's view of an input value of the given topic kind (read at origin, if given),
    or why it breaks the contract: ``to_lead_event(decode(kind, raw), origin)``, by a faster
    path for the values that path is sure of (see streams.worker.fast_decode)."""
    if raw is not None:
        event = fast_lead_event(kind, raw, origin)
        if event is not None:
            return event
    decoded = decode(kind, raw)
    if isinstance(decoded, Rejection):
        return decoded
    return to_lead_event(decoded, origin)


def to_lead_event(decoded: Decoded, origin: EventOrigin | None = None) -> LeadEvent:
    """The core's view of a validated input message (read at origin, if given)."""
    if isinstance(decoded, ProfileRecord):
        facts = {name: getattr(decoded, name) for name in PROFILE_FIELDS}
        return LeadEvent(
            event_id=decoded.event_id or "",
            type="profile",
            occurred_at=_standard_zone(decoded.updated_at),
            lead_id=decoded.lead_id,
            properties={k: v for k, v in facts.items() if v is not None},
            origin=origin,
        )
    anonymous_id = decoded.anonymous_id if isinstance(decoded, WebsiteEnvelope) else None
    # Every concrete event model has `type` and `properties` (see schemas.events).
    props: dict[str, Any] = getattr(decoded, "properties").model_dump(exclude_none=True)  # noqa: B009
    return LeadEvent(
        event_id=decoded.event_id,
        type=getattr(decoded, "type"),  # noqa: B009
        occurred_at=_standard_zone(decoded.occurred_at),
        lead_id=decoded.lead_id,
        anonymous_id=anonymous_id,
        properties=props,
        origin=origin,
    )


def _standard_zone(at: datetime) -> datetime:
    """The same instant in the standard library's time zone of its offset (pydantic gives
    its own, whose every use costs more), as datetime.fromisoformat gives it when the
    events-by-lead topic is read."""
    offset = at.utcoffset()
    assert offset is not None  # the contract's timestamps are aware
    return at.replace(tzinfo=timezone(offset))


def partition_key(event: LeadEvent) -> str:
    """The key events are re-partitioned by: the lead, or the anonymous visitor."""
    return routing_key(event)


def lead_event_record(event: LeadEvent) -> dict[str, Any]:
    """JSON-ready form of an event: as a dead letter of a re-keyed event holds it, and as
    events-by-lead records held events before the compact form."""
    body: dict[str, Any] = {
        "i": event.event_id,
        "t": event.type,
        "o": event.occurred_at.isoformat(),
        "p": event.properties,
    }
    if event.lead_id is not None:
        body["l"] = event.lead_id
    if event.anonymous_id is not None:
        body["a"] = event.anonymous_id
    if event.merged_from is not None:
        body["m"] = event.merged_from
    if event.origin is not None:
        body["s"] = origin_item(event.origin)
    return body


def origin_item(origin: EventOrigin) -> list[str | int]:
    """An event's origin as JSON: [topic kind, partition, offset(, Kafka timestamp)]."""
    item: list[str | int] = [origin.topic, origin.partition, origin.offset]
    if origin.produced_ms is not None:
        item.append(origin.produced_ms)
    return item


def encode_lead_event(event: LeadEvent) -> bytes:
    """JSON of one event (see lead_event_record; raises TypeError/ValueError if it cannot
    be carried)."""
    return orjson.dumps(lead_event_record(event))


def _lead_event(body: dict[str, Any]) -> LeadEvent:
    return lead_event(
        body["i"],
        body["t"],
        datetime.fromisoformat(body["o"]),
        body.get("l"),
        body.get("a"),
        body["p"],
        body.get("m"),
        event_origin(*origin) if (origin := body.get("s")) is not None else None,
    )


def decode_lead_event(raw: bytes) -> LeadEvent:
    """Inverse of encode_lead_event."""
    return _lead_event(orjson.loads(raw))


RekeyFormat = Literal["compact", "json"]
"""The form of the events-by-lead records written (both are read): compact (see
rekey_format.py), or the JSON of releases before it, for a rolling upgrade from them."""


def rekeyed_item(key: str, event: LeadEvent, form: RekeyFormat = "compact") -> bytes:
    """One entry of an events-by-lead record: the event and the key it is re-partitioned by
    (raises one of rekey_format.ENCODE_ERRORS if it cannot be carried)."""
    if form == "compact":
        return encode_item(key, event)
    return b'{"k":' + orjson.dumps(key) + b',"e":' + encode_lead_event(event) + b"}"


def join_rekeyed(items: Sequence[bytes], form: RekeyFormat = "compact") -> bytes:
    """An events-by-lead record: rekeyed_item entries (of that form) of one partition, in
    order."""
    if form == "compact":
        return join_items(items)
    return b"[" + b",".join(items) + b"]"


def decode_rekeyed(raw: bytes, key: bytes | None) -> list[tuple[str, LeadEvent]]:
    """The (partition key, event) pairs of an events-by-lead record, in order.

    Records of the JSON form leadq wrote before the compact one are read too (a rolling
    upgrade reads them from the topic): a list of {"k": key, "e": event} entries, or one
    bare event (as leadq wrote them before it batched), keyed by the record's key.
    """
    if is_compact(raw):
        return decode_items(raw)
    body = orjson.loads(raw)
    if isinstance(body, dict):
        return [((key or b"").decode(), _lead_event(body))]
    return [(item["k"], _lead_event(item["e"])) for item in body]


def rekeyed_event_ids(raw: bytes, inputs_only: bool = False) -> list[str]:
    """The event ids in an events-by-lead record of either form (for watchers and tests):
    none for a timer tick; with inputs_only, not those of events a visitor handed over to
    its lead."""
    if is_compact(raw):
        return item_event_ids(raw, inputs_only)
    body = orjson.loads(raw)
    events = [body] if isinstance(body, dict) else [item["e"] for item in body]
    return [str(e["i"]) for e in events if "i" in e and not (inputs_only and "m" in e)]


def encode_state(state: LeadState) -> bytes:
    """Table value (and changelog record) of a lead."""
    return orjson.dumps(state.to_dict())


def decode_state(raw: bytes) -> LeadState:
    """Inverse of encode_state."""
    return LeadState.from_dict(orjson.loads(raw))


def stage_change_dict(change: StageChanged, emitted_at: datetime) -> dict[str, Any]:
    """The contract's stage-change record."""
    return {
        "change_id": change.change_id,
        "lead_id": change.lead_id,
        "sequence": change.sequence,
        "from_stage": change.from_stage,
        "to_stage": change.to_stage,
        "occurred_at": change.occurred_at.isoformat(),
        "emitted_at": emitted_at.isoformat(),
        "trigger_event_id": change.trigger_event_id,
        "reasons": [
            {"rule": r.rule, "description": r.description}
            | ({"points": r.points} if r.points is not None else {})
            for r in change.reasons
        ],
        "evidence": list(change.evidence),
        "disqualification_reason": change.disqualification_reason,
        "scores": dict(change.scores),
        "ruleset": {"name": change.ruleset_name, "version": change.ruleset_version},
    }


class OutgoingChange(NamedTuple):
    """A stage change ready to send: key and value for leads.stage-changes with its
    CloudEvents headers, and the lead's current stage for leads.lead-stages."""

    key: bytes
    value: bytes
    headers: Headers
    current: bytes
    to_stage: str  # for the metrics, without decoding the value again
    trigger_event_id: str | None


def outgoing_change(key: bytes, change: StageChanged, source: str) -> OutgoingChange:
    """Everything the worker sends for one stage change (source: `leadq/{app id}`)."""
    headers = binary_headers(
        event_id=change.change_id,
        source=source,
        event_type=STAGE_CHANGED,
        subject=change.lead_id,
        time=change.occurred_at,
    )
    return OutgoingChange(
        key,
        encode_stage_change(change),
        headers,
        encode_lead_stage(change),
        change.to_stage,
        change.trigger_event_id,
    )


def lead_stage_dict(change: StageChanged) -> dict[str, Any]:
    """The contract's leads.lead-stages record: the lead's stage after this change."""
    return {
        "lead_id": change.lead_id,
        "stage": change.to_stage,
        "since": change.occurred_at.isoformat(),
        "change_id": change.change_id,
        "sequence": change.sequence,
        "scores": dict(change.scores),
        "ruleset": {"name": change.ruleset_name, "version": change.ruleset_version},
        "disqualification_reason": change.disqualification_reason,
    }


def encode_lead_stage(change: StageChanged) -> bytes:
    """Value bytes for leads.lead-stages."""
    return orjson.dumps(lead_stage_dict(change))


def encode_stage_change(change: StageChanged, emitted_at: datetime | None = None) -> bytes:
    """Value bytes for leads.stage-changes."""
    return orjson.dumps(stage_change_dict(change, emitted_at or datetime.now(UTC)))


def sla_event_dict(event: SlaEvent, emitted_at: datetime) -> dict[str, Any]:
    """The contract's leads.sla record."""
    return {
        "sla_event_id": event.sla_event_id,
        "lead_id": event.lead_id,
        "kind": event.kind,
        "stage": event.stage,
        "stage_since": event.stage_since.isoformat(),
        "due_at": event.due_at.isoformat(),
        "policy": dict(event.policy),
        "emitted_at": emitted_at.isoformat(),
    }


class OutgoingSla(NamedTuple):
    """An SLA event ready to send to leads.sla: key, value and CloudEvents headers."""

    key: bytes
    value: bytes
    headers: Headers
    kind: str  # for the metrics, without decoding the value again


def outgoing_sla(
    key: bytes, event: SlaEvent, source: str, emitted_at: datetime | None = None
) -> OutgoingSla:
    """Everything the worker sends for one SLA event (source: `leadq/{app id}`). Its
    CloudEvents time is the instant it came due (the warning instant, or due_at for a
    breach), so a re-emission repeats every header; emitted_at is the wall clock now."""
    headers = binary_headers(
        event_id=event.sla_event_id,
        source=source,
        event_type=SLA_TYPES[event.kind],
        subject=event.lead_id,
        time=event.occurred_at,
    )
    value = orjson.dumps(sla_event_dict(event, emitted_at or datetime.now(UTC)))
    return OutgoingSla(key, value, headers, event.kind)


def dead_letter_of(message: Any, rejection: Rejection) -> bytes:
    """Value bytes for leads.dead-letter for a consumed input message (topic, partition,
    offset, key and value attributes, as aiokafka's ConsumerRecord has them)."""
    return encode_dead_letter(
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        rejection=rejection,
    )


def encode_dead_letter(
    *,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    rejection: Rejection,
    received_at: datetime | None = None,
) -> bytes:
    """Value bytes for leads.dead-letter: the raw message and why it was rejected."""
    raw = value or b""
    kept = raw[:DEAD_LETTER_VALUE_BYTES]
    try:
        text, encoding = kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if len(kept) < len(raw) and exc.start >= len(kept) - 3:
            kept = kept[: exc.start]  # the cut fell inside a multi-byte character
            text, encoding = kept.decode("utf-8"), "utf-8"
        else:
            text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    key_text, key_encoding = _text_or_base64(key)
    body: dict[str, Any] = {
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "key": key_text,
        "value": text,
        "error": {"code": rejection.code, "message": rejection.message},
        "received_at": (received_at or datetime.now(UTC)).isoformat(),
    }
    if encoding == "base64":
        body["value_encoding"] = "base64"
    if key_encoding == "base64":
        body["key_encoding"] = "base64"
    if len(kept) < len(raw):
        body["value_truncated"] = True
        body["value_size"] = len(raw)
    return orjson.dumps(body)


def _text_or_base64(key: bytes | None) -> tuple[str | None, str]:
    if key is None:
        return None, "utf-8"
    try:
        return key.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(key).decode("ascii"), "base64"
