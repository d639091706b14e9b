"""Read a recorded event history (JSON Lines, contract format) into core events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import orjson

from schemas.decode import TOPIC_KINDS, TOPIC_OF_TYPE, Rejection, TopicKind, decode
from streams.core.events import LeadEvent
from streams.worker.codec import read_lead_event

MAX_EXAMPLES: Final = 5
PROGRESS_EVERY_LINES: Final = 20_000
_TOPICS: Final[dict[str, TopicKind]] = {
    **{kind: kind for kind in TOPIC_KINDS},
    **{f"leads.{kind}": kind for kind in TOPIC_KINDS},
}


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A line that is not a valid input event: its number and why."""

    line: int
    code: str
    message: str


@dataclass(slots=True)
class LoadedHistory:
    """The valid events of a history file and a count of the lines that were not."""

    events: list[LeadEvent] = field(default_factory=list)
    lines: int = 0
    invalid: int = 0
    examples: list[InvalidLine] = field(default_factory=list)


def topic_kind(value: object) -> TopicKind | Rejection:
    """Which input topic a parsed line belongs to.

    A line may name it in an optional top-level `topic` field (`leads.website` or `website`;
    a deployment prefix before `leads.` is allowed); otherwise its `type` tells, since event
    types are unique across topics, and a line without `type` is a profile record.
    """
    if not isinstance(value, dict):
        return Rejection("not_an_object", "the line is not a JSON object")
    topic = value.get("topic")
    if topic is not None:
        name = topic[topic.rfind("leads.") :] if isinstance(topic, str) else ""
        kind = _TOPICS.get(name) or _TOPICS.get(str(topic))
        if kind is None:
            return Rejection("invalid_value", f"unknown topic {topic!r}")
        return kind
    etype = value.get("type")
    if etype is None:
        return "profile"
    kind = TOPIC_OF_TYPE.get(etype) if isinstance(etype, str) else None
    if kind is None:
        return Rejection("unknown_type", f"unknown type {etype!r}")
    return kind


def parse_line(raw: bytes) -> LeadEvent | Rejection:
    """One line of a history file as a core event, or why it is not a valid input event."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        rejected = decode("profile", raw)  # the contract's wording for bad JSON / UTF-8
        assert isinstance(rejected, Rejection)
        return rejected
    kind = topic_kind(value)
    if isinstance(kind, Rejection):
        return kind
    return read_lead_event(kind, raw)


def read_history(path: Path, on_bytes: Callable[[int], None] | None = None) -> LoadedHistory:
    """Every valid event of a JSON Lines file; invalid lines are counted, blank ones skipped.

    `on_bytes` is called now and then with the number of bytes read since its last call.
    """
    out = LoadedHistory()
    pending = 0
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            pending += len(raw)
            if on_bytes is not None and number % PROGRESS_EVERY_LINES == 0:
                on_bytes(pending)
                pending = 0
            line = raw.strip()
            if not line:
                continue
            out.lines += 1
            parsed = parse_line(line)
            if isinstance(parsed, Rejection):
                out.invalid += 1
                if len(out.examples) < MAX_EXAMPLES:
                    out.examples.append(InvalidLine(number, parsed.code, parsed.message))
            else:
                out.events.append(parsed)
    if on_bytes is not None:
        on_bytes(pending)
    return out
