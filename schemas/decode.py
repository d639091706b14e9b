"""Validate raw input bytes against the contract: a typed event, or a rejection with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from schemas.events import (
    CallEvent,
    EmailEvent,
    LeadEnvelope,
    ProfileRecord,
    WebsiteEnvelope,
    WebsiteEvent,
)

TopicKind = Literal["website", "email", "call", "profile"]
TOPIC_KINDS: Final[tuple[TopicKind, ...]] = ("website", "email", "call", "profile")
MAX_VALUE_BYTES: Final = 256 * 1024
REJECTION_CODES: Final = frozenset(
    {
        "empty_value",
        "too_large",
        "invalid_utf8",
        "invalid_json",
        "not_an_object",
        "missing_field",
        "unknown_type",
        "wrong_type",
        "invalid_value",
        "processing_error",
        "too_late",
        "identity_conflict",
        "from_future",
    }
)

Decoded = WebsiteEnvelope | LeadEnvelope | ProfileRecord


def _types_of(union: object) -> list[str]:
    models = get_args(get_args(union)[0])
    return [get_args(model.model_fields["type"].annotation)[0] for model in models]


# Event types are unique across topics, so a type names its topic (profile records: no type).
TOPIC_OF_TYPE: Final[dict[str, TopicKind]] = {
    **dict.fromkeys(_types_of(WebsiteEvent), "website"),
    **dict.fromkeys(_types_of(EmailEvent), "email"),
    **dict.fromkeys(_types_of(CallEvent), "call"),
    "profile": "profile",
}

_ADAPTERS: Final[dict[TopicKind, TypeAdapter[Decoded]]] = {
    "website": TypeAdapter(WebsiteEvent),
    "email": TypeAdapter(EmailEvent),
    "call": TypeAdapter(CallEvent),
    "profile": TypeAdapter(ProfileRecord),
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message does not meet the contract: a stable code and a readable message."""

    code: str
    message: str


def decode(kind: TopicKind, raw: bytes | None) -> Decoded | Rejection:
    """Decode and validate one message value of the given input topic kind."""
    if raw is None or raw == b"":
        return Rejection("empty_value", "the message has no value")
    if len(raw) > MAX_VALUE_BYTES:
        return Rejection(
            "too_large", f"the value is {len(raw)} bytes; at most {MAX_VALUE_BYTES} are accepted"
        )
    try:
        return _ADAPTERS[kind].validate_json(raw, strict=True)
    except ValidationError as exc:
        return _rejection(raw, exc, tagged=kind != "profile")


def _rejection(raw: bytes, exc: ValidationError, tagged: bool) -> Rejection:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    code = _code(first)
    if code == "invalid_json":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return Rejection("invalid_utf8", f"the value is not valid UTF-8 ({err.reason})")
        return Rejection(code, f"the value is not valid JSON: {first['msg']}")
    text = "; ".join(_describe(e, tagged) for e in errors[:5])
    if len(errors) > 5:
        text += f"; and {len(errors) - 5} more"
    return Rejection(code, text)


def _code(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "json_invalid":
        return "invalid_json"
    if kind == "union_tag_invalid":
        return "unknown_type"
    if kind in ("missing", "union_tag_not_found"):
        return "missing_field"
    if not error["loc"] and kind in ("model_type", "model_attributes_type", "dict_type"):
        return "not_an_object"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "wrong_type"
    return "invalid_value"


def _describe(error: ErrorDetails, tagged: bool) -> str:
    kind = error["type"]
    # A tagged union puts the event type first in the location; it is not a field.
    path = error["loc"][1:] if tagged and kind not in ("union_tag_invalid",) else error["loc"]
    loc = ".".join(str(p) for p in path)
    if kind == "union_tag_not_found":
        return "field 'type' is required"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "missing":
        return f"field '{loc}' is required"
    return f"{loc}: {error['msg']}" if loc else error["msg"]
