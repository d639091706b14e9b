"""Read a recorded event history (JSON Lines, contract format) into core events."""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import orjson

from schemas.decode import TOPIC_KINDS, TOPIC_OF_TYPE, Rejection, TopicKind, decode
from streams.codec import to_lead_event
from streams.core.events import LeadEvent

MAX_EXAMPLES: Final = 5
CHUNK_BYTES: Final = 4 * 1024 * 1024
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
class _Part:
    """What one byte range of the file held (line numbers within the range)."""

    size: int
    physical_lines: int = 0
    lines: int = 0
    invalid: int = 0
    events: list[Any] = field(default_factory=list)
    examples: list[InvalidLine] = field(default_factory=list)


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
    decoded = decode(kind, raw)
    if isinstance(decoded, Rejection):
        return decoded
    return to_lead_event(decoded)


def _read_part(path: str, start: int, end: int) -> _Part:
    """Parse the lines in bytes [start, end) of the file (both at line starts)."""
    with open(path, "rb") as file:
        file.seek(start)
        data = file.read(end - start)
    part = _Part(size=len(data))
    raws = data.split(b"\n")
    if raws and not raws[-1]:
        raws.pop()  # after the last newline
    part.physical_lines = len(raws)
    for number, raw in enumerate(raws, 1):
        line = raw.strip()
        if not line:
            continue
        part.lines += 1
        parsed = parse_line(line)
        if isinstance(parsed, Rejection):
            part.invalid += 1
            if len(part.examples) < MAX_EXAMPLES:
                part.examples.append(InvalidLine(number, parsed.code, parsed.message))
        else:
            part.events.append(parsed)
    return part


def _read_part_in_worker(task: tuple[str, int, int]) -> _Part:
    """_read_part for a worker process: events as plain tuples, which pickle fast."""
    gc.disable()
    part = _read_part(*task)
    part.events = [
        (e.event_id, e.type, e.occurred_at, e.lead_id, e.anonymous_id, e.properties)
        for e in part.events
    ]
    return part


def _ranges(path: Path, chunk: int) -> list[tuple[int, int]]:
    """Byte ranges of about `chunk` bytes that start and end at line boundaries."""
    size = path.stat().st_size
    starts = [0]
    with path.open("rb") as file:
        while starts[-1] + chunk < size:
            file.seek(starts[-1] + chunk)
            file.readline()
            if file.tell() >= size:
                break
            starts.append(file.tell())
    return list(zip(starts, [*starts[1:], size], strict=True))


def read_history(
    path: Path, on_bytes: Callable[[int], None] | None = None, workers: int = 1
) -> LoadedHistory:
    """Every valid event of a JSON Lines file, in file order; invalid lines are counted, blank
    ones skipped. With workers > 1, chunks of the file are parsed in forked processes.

    `on_bytes` is called now and then with the number of bytes read since its last call.
    """
    tasks = [(str(path), start, end) for start, end in _ranges(path, CHUNK_BYTES)]
    out = LoadedHistory()
    if workers <= 1 or len(tasks) == 1 or "fork" not in multiprocessing.get_all_start_methods():
        _merge(out, (_read_part(*task) for task in tasks), on_bytes, tuples=False)
        return out
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        _merge(out, pool.imap(_read_part_in_worker, tasks), on_bytes, tuples=True)
    return out


def _merge(
    out: LoadedHistory,
    parts: Iterable[_Part],
    on_bytes: Callable[[int], None] | None,
    tuples: bool,
) -> None:
    offset = 0  # physical lines before the part
    for part in parts:
        out.lines += part.lines
        out.invalid += part.invalid
        for example in part.examples:
            if len(out.examples) < MAX_EXAMPLES:
                out.examples.append(replace(example, line=example.line + offset))
        if tuples:
            out.events.extend(LeadEvent(*row) for row in part.events)
        else:
            out.events.extend(part.events)
        offset += part.physical_lines
        if on_bytes is not None:
            on_bytes(part.size)
