"""Hypothesis strategies of hostile messages for the input topics, labelled by category.

Every message is a :class:`FuzzMessage` ``(kind, key, value, expected_valid)``: the input
topic kind, the Kafka key and value bytes, and whether leadq must accept the value. The
last one is computed by running the ingest stage's :func:`judge` on the bytes (with the
default clock skew, as of ``NOT_AFTER_MS``), never guessed:
a mutation meant to break a message sometimes leaves it valid (an optional field removed,
a timestamp that happens to exist), and then leadq must accept it.

``message_strategy(category)`` draws messages of one category (``messages()``: of all);
:func:`corpus_rounds` and :func:`draw_corpus` draw a large batch deterministically (see
:func:`draw_examples` for how), for the end-to-end fuzz run. Valid-but-weird messages are a
category of their own: year 0001 and 9999 timestamps with any offset, ids of exactly 128
characters, escaped NUL characters, unknown extra fields, huge and extreme numbers.
Generated lead and event ids are unique and start with ``fz<serial>.``, so they never
collide with each other or with simulated (``sim-``) traffic. HANDPICKED lists known-nasty
messages that every corpus includes.
"""

from __future__ import annotations

import calendar
import functools
import itertools
import json
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from schemas.decode import (
    MAX_VALUE_BYTES,
    TOPIC_KINDS,
    Rejection,
    TopicKind,
)
from streams.settings import DEFAULT_MAX_CLOCK_SKEW_S
from streams.worker.ingest import judge
from streams.worker.wall_clock import wall_ms

# The broker's default message.max.bytes is 1048588 bytes per record batch; a record with
# a short key and a value of this size fits with room to spare (batch and record headers
# are under 100 bytes). One mebibyte (1048576 bytes) does not fit.
BROKER_SAFE_VALUE_BYTES: Final = 1_040_000

EVENT_TYPES: Final[dict[TopicKind, tuple[str, ...]]] = {
    "website": (
        "page_view",
        "content_download",
        "newsletter_signup",
        "webinar_registration",
        "webinar_attended",
        "form_submit",
        "identify",
    ),
    "email": (
        "email_sent",
        "email_opened",
        "email_clicked",
        "email_replied",
        "email_bounced",
        "email_unsubscribed",
        "email_spam_complaint",
    ),
    "call": ("call_completed", "meeting_held"),
    "profile": ("profile",),
}

CATEGORIES: Final = (
    "valid_weird",
    "invalid_utf8",
    "invalid_json",
    "wrong_type",
    "missing_field",
    "invalid_value",
    "unknown_type",
    "not_an_object",
    "large",
    "deep_nesting",
    "extreme_timestamp",
    "empty_value",
    "null_bytes",
)

# Messages per category of the end-to-end fuzz run: 10,040 in all (large values are few,
# they are up to ~1 MB each).
DEFAULT_COUNTS: Final[Mapping[str, int]] = {
    "valid_weird": 1600,
    "invalid_utf8": 900,
    "invalid_json": 1000,
    "wrong_type": 1200,
    "missing_field": 1000,
    "invalid_value": 800,
    "unknown_type": 800,
    "not_an_object": 400,
    "large": 40,
    "deep_nesting": 600,
    "extreme_timestamp": 900,
    "empty_value": 100,
    "null_bytes": 700,
}


class FuzzMessage(NamedTuple):
    """One message for an input topic and whether leadq's validation accepts it."""

    kind: TopicKind
    key: bytes | None
    value: bytes | None
    expected_valid: bool


# A worker with the default clock skew that reads a message after this module was imported
# dead-letters events dated after NOT_AFTER_MS as `from_future` (its wall clock only moves
# on). Whether it takes one dated a little later depends on when it reads it: see
# near_the_future_cutoff.
NOT_AFTER_MS: Final = wall_ms() + int(DEFAULT_MAX_CLOCK_SKEW_S * 1000)
_AMBIGUOUS_BEFORE_MS: Final = 3_600_000
_AMBIGUOUS_AFTER_MS: Final = 86_400_000


def make_message(kind: TopicKind, key: bytes | None, value: bytes | None) -> FuzzMessage:
    """A message with ``expected_valid`` computed by the ingest stage's ``judge``."""
    return FuzzMessage(kind, key, value, accepted(kind, value))


def accepted(kind: TopicKind, value: bytes | None) -> bool:
    """Whether the ingest stage accepts a value read now (or later) with the default skew."""
    return not isinstance(judge(kind, value, NOT_AFTER_MS), Rejection)


def near_the_future_cutoff(message: FuzzMessage) -> bool:
    """Whether the message is an event dated so close to NOT_AFTER_MS (from an hour before
    to a day after) that a worker reading it at another moment would judge it otherwise."""
    judged = judge(message.kind, message.value)
    if isinstance(judged, Rejection):
        return False
    at_ms = judged.event.at_ms
    return NOT_AFTER_MS - _AMBIGUOUS_BEFORE_MS < at_ms <= NOT_AFTER_MS + _AMBIGUOUS_AFTER_MS


# --------------------------------------------------------------------------- JSON text


class Raw:
    """A JSON number literal written verbatim (``1e999``, ``-0``, ``1E+2``)."""

    def __init__(self, text: str) -> None:
        self.text = text


_RAW_MARK = "\x01raw\x02"


def _raw_default(value: object) -> object:
    if isinstance(value, Raw):
        return f"{_RAW_MARK}{value.text}{_RAW_MARK}"
    raise TypeError(f"not JSON: {value!r}")


def dumps(value: object, *, ascii_only: bool = False, spaced: bool = False) -> bytes:
    """JSON bytes (stdlib json: big integers welcome) with Raw literals spliced in."""
    text = json.dumps(
        value,
        ensure_ascii=ascii_only,
        allow_nan=False,
        default=_raw_default,
        separators=(", ", ": ") if spaced else (",", ":"),
    )
    mark = json.dumps(_RAW_MARK)[1:-1]  # control characters are always escaped
    if mark in text:
        text = text.replace(f'"{mark}', "").replace(f'{mark}"', "")
    return text.encode("utf-8")


@st.composite
def _serialized(draw: st.DrawFn, value: object) -> bytes:
    return dumps(value, ascii_only=draw(st.booleans()), spaced=draw(st.booleans()))


_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    _JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
"""Arbitrary JSON values (big integers included)."""

json_documents = st.builds(lambda v, a: dumps(v, ascii_only=a), json_values, st.booleans())
"""Arbitrary JSON documents as bytes."""

# --------------------------------------------------------------------------- fields


class _Optional(NamedTuple):
    """An optional field of _fields: omitted, explicitly null (if nullable), or a value."""

    values: st.SearchStrategy[Any]
    nullable: bool = True


_optional = _Optional
_NULL_OR_VALUE = st.integers(0, 5)


def _fields(**fields: st.SearchStrategy[Any] | _Optional) -> st.SearchStrategy[dict[str, Any]]:
    """A dict of required fields and a subset of the optional ones (a few choices only)."""
    required = {n: f for n, f in fields.items() if not isinstance(f, _Optional)}
    optional = {n: f for n, f in fields.items() if isinstance(f, _Optional)}
    subsets = st.integers(0, 2 ** len(optional) - 1)

    @st.composite
    def draw_fields(draw: st.DrawFn) -> dict[str, Any]:
        out = {name: draw(values) for name, values in required.items()}
        if optional:
            mask = draw(subsets)
            for bit, (name, field) in enumerate(optional.items()):
                if mask >> bit & 1:
                    null = field.nullable and draw(_NULL_OR_VALUE) == 0
                    out[name] = None if null else draw(field.values)
        return out

    return draw_fields()


_NUL_TEXT = st.lists(
    st.sampled_from(["\x00", "a", "\u2028", "é", "\U0001f600", '"', "\\"]), max_size=30
).map("".join)


@functools.cache
def _texts(weird: bool, max_size: int = 40) -> st.SearchStrategy[str]:
    if not weird:
        return st.text(max_size=max_size)
    return st.one_of(
        st.text(max_size=20),
        st.text(max_size=200),
        _NUL_TEXT,
        st.just(""),
        st.integers(129, 3000).map(lambda n: "x" * n),
    )


_serial = itertools.count()


def unique_id(text: str) -> str:
    """'fz', a serial number and the drawn text, cut to the contract's 128 characters.

    Hypothesis likes to draw the same ids again; unique ones give every generated event
    its own lead, so that no two events of a lead depend on the order of processing (one
    event id, two contents; profile facts before or after a signal). draw_corpus restarts
    the serial numbers, which keeps its corpus the same at every run. The number has a
    fixed width: Hypothesis replays a test case's choices and requires the same draws, and
    a message one character longer (fz9 -> fz10) changed the bounds of the draw that cuts
    it short (FlakyStrategyDefinition, once in CI).
    """
    return f"fz{next(_serial) % 10**7:07d}.{text}"[:128]


@functools.cache
def _ids(weird: bool) -> st.SearchStrategy[str]:
    """Valid ids (1-128 characters), unique, all starting with 'fz'."""
    if not weird:
        return st.text(max_size=30).map(unique_id)
    return st.one_of(
        st.text(min_size=130, max_size=130).map(unique_id),  # exactly 128 characters
        st.text(max_size=126).map(unique_id),
        _NUL_TEXT.map(unique_id),
    )


@functools.cache
def _numbers(weird: bool) -> st.SearchStrategy[Any]:
    """Non-negative numbers (as the contract's durations and minutes)."""
    normal = st.integers(0, 100_000) | st.floats(0, 1e6)
    if not weird:
        return normal
    return st.one_of(
        normal,
        st.floats(min_value=0, allow_infinity=False),
        st.sampled_from(
            [0, 0.0, -0.0, 5e-324, 1e308, 2**63, 10**30, Raw("1e999"), Raw("-0"), Raw("1E+2")]
        ),
    )


_ANY_YEAR = st.integers(1, 9999)
_SECOND_OF_YEAR = st.integers(0, 366 * 86400 - 1)
_FRACTIONS = st.none() | st.text("0123456789", min_size=1, max_size=9)
_SEPARATORS = st.sampled_from("Tt")
_LOOSE_SEPARATORS = st.sampled_from("Tt ")
_OFFSET_TEXTS: Final = ["Z", "z", "+00:00", "-00:00", "+23:59", "-23:59"] + [
    f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    for sign in "+-"
    for minutes in range(0, 24 * 60, 15)
]
_OFFSET_INDEX = st.integers(0, len(_OFFSET_TEXTS) - 1)
_NORMAL_YEARS = st.integers(2015, 2035)
_EDGE_YEARS = st.sampled_from([1, 9999])
_WEIRD_YEARS = _EDGE_YEARS | _ANY_YEAR


@st.composite
def rfc3339(
    draw: st.DrawFn, years: st.SearchStrategy[int] | None = None, strict: bool = True
) -> str:
    """A valid RFC 3339 date-time with an offset (seconds 00-59: no leap second).

    With ``strict=False`` also the forms that are valid ISO 8601 but not RFC 3339 grammar
    (a space separator, minutes without seconds) which leadq happens to accept.
    """
    year = draw(years if years is not None else _ANY_YEAR)
    start = datetime(year, 1, 1)
    at = start + timedelta(seconds=draw(_SECOND_OF_YEAR) % _seconds_in(year))
    fraction = draw(_FRACTIONS)
    separator = draw(_SEPARATORS if strict else _LOOSE_SEPARATORS)
    offset = _OFFSET_TEXTS[draw(_OFFSET_INDEX)]
    time = at.strftime("%H:%M:%S") + (f".{fraction}" if fraction else "")
    return f"{at.year:04d}-{at.month:02d}-{at.day:02d}{separator}{time}{offset}"


def _seconds_in(year: int) -> int:
    return (366 if calendar.isleap(year) else 365) * 86400


@functools.cache
def _timestamps(weird: bool) -> st.SearchStrategy[str]:
    return rfc3339(_WEIRD_YEARS if weird else _NORMAL_YEARS)


_ENUMS: Final[dict[str, tuple[str, ...]]] = {
    "category": ("pricing", "product", "docs", "blog", "careers", "other"),
    "asset_type": ("ebook", "whitepaper", "case_study", "template", "other"),
    "form": ("contact", "demo_request", "pricing_request", "proposal_request", "trial", "other"),
    "intent": (
        "pricing",
        "implementation",
        "meeting",
        "positive",
        "not_interested",
        "out_of_office",
    ),
    "bounce": ("hard", "soft"),
    "direction": ("inbound", "outbound"),
    "outcome": ("connected", "voicemail", "no_answer", "busy"),
    "topics": (
        "pricing",
        "implementation",
        "demo",
        "consultation",
        "proposal",
        "budget",
        "timeline",
        "competitor",
    ),
    "disposition": (
        "interested",
        "demo_scheduled",
        "consultation_held",
        "proposal_requested",
        "opportunity_accepted",
        "not_interested",
        "no_budget",
        "bad_timing",
        "not_a_fit",
        "wrong_contact",
    ),
    "kind": ("demo", "consultation", "discovery", "proposal_review"),
    "seniority": ("c_level", "vp", "director", "manager", "individual", "student", "other"),
}

# Required fields: top level per kind, properties per event type.
REQUIRED_TOP: Final[dict[TopicKind, tuple[str, ...]]] = {
    "website": ("event_id", "type", "occurred_at"),
    "email": ("event_id", "type", "lead_id", "occurred_at"),
    "call": ("event_id", "type", "lead_id", "occurred_at"),
    "profile": ("lead_id", "updated_at"),
}
REQUIRED_PROPERTIES: Final[dict[str, tuple[str, ...]]] = {
    "page_view": ("url",),
    "content_download": ("asset",),
    "webinar_registration": ("webinar",),
    "webinar_attended": ("webinar",),
    "form_submit": ("form",),
    "email_bounced": ("bounce",),
    "call_completed": ("direction", "duration_s", "outcome"),
    "meeting_held": ("kind",),
}


@functools.cache
def _enum(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(_ENUMS[name])


@functools.cache
def _properties(event_type: str, weird: bool) -> st.SearchStrategy[dict[str, Any]]:
    text = _texts(weird)
    number = _numbers(weird)
    match event_type:
        case "page_view":
            return _fields(url=text, category=_optional(_enum("category")))
        case "content_download":
            return _fields(asset=text, asset_type=_optional(_enum("asset_type")))
        case "webinar_registration":
            return _fields(webinar=text)
        case "webinar_attended":
            return _fields(webinar=text, minutes=_optional(number))
        case "form_submit":
            return _fields(form=_enum("form"))
        case "identify":
            return _fields(email=_optional(text))
        case "email_clicked":
            return _fields(url=_optional(text))
        case "email_replied":
            return _fields(intent=_optional(_enum("intent")))
        case "email_bounced":
            return _fields(bounce=_enum("bounce"))
        case "call_completed":
            return _fields(
                direction=_enum("direction"),
                duration_s=number,
                outcome=_enum("outcome"),
                rep_id=_optional(text),
                topics=_optional(st.lists(_enum("topics"), max_size=4)),
                disposition=_optional(_enum("disposition")),
            )
        case "meeting_held":
            return _fields(kind=_enum("kind"), duration_s=_optional(number), rep_id=_optional(text))
        case _:
            return st.builds(dict)


@functools.cache
def _extra_fields(weird: bool) -> st.SearchStrategy[dict[str, Any]]:
    if not weird:
        return st.just({})
    small_json = st.recursive(
        _JSON_LEAVES,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=5,
    )
    names = st.text(max_size=10).filter(lambda k: k not in ("type", "event_id", "lead_id"))
    return st.dictionaries(names, small_json, max_size=3)


_KINDS: st.SearchStrategy[TopicKind] = st.sampled_from(TOPIC_KINDS)
_WHO = st.sampled_from(["lead", "anonymous", "both"])
_COUNTRIES = st.from_regex(r"\A[A-Z]{2}\Z")


@functools.cache
def _event_types(kind: TopicKind) -> st.SearchStrategy[str]:
    return st.sampled_from(EVENT_TYPES[kind])


@functools.cache
def _profile_fields(weird: bool) -> st.SearchStrategy[dict[str, Any]]:
    ids, text = _ids(weird), _texts(weird)
    sizes = st.integers(0, 100_000)
    if weird:
        sizes |= st.sampled_from([2**63 - 1, 2**63, 10**30])
    return _fields(
        lead_id=ids,
        updated_at=_timestamps(weird),
        event_id=_optional(ids),
        type=_optional(st.just("profile"), nullable=False),  # not in the contract
        source=_optional(text),
        company=_optional(text),
        company_size=_optional(sizes),
        industry=_optional(text),
        country=_optional(_COUNTRIES),
        job_title=_optional(text),
        seniority=_optional(_enum("seniority")),
        email_domain=_optional(text),
    )


@functools.cache
def _sources(weird: bool) -> st.SearchStrategy[dict[str, Any]]:
    return _fields(source=_optional(_texts(weird)))


@st.composite
def event_dicts(
    draw: st.DrawFn, kind: TopicKind | None = None, weird: bool = False
) -> tuple[TopicKind, dict[str, Any]]:
    """A contract-valid event (or profile record) as a dict, and its topic kind."""
    topic: TopicKind = kind if kind is not None else draw(_KINDS)
    ids, timestamps = _ids(weird), _timestamps(weird)
    if topic == "profile":
        body = draw(_profile_fields(weird))
    else:
        event_type = draw(_event_types(topic))
        body = {"event_id": draw(ids), "type": event_type, "occurred_at": draw(timestamps)}
        if topic == "website":
            who = draw(_WHO)
            if event_type == "identify":
                who = "both"
            if who in ("lead", "both"):
                body["lead_id"] = draw(ids)
            if who in ("anonymous", "both"):
                body["anonymous_id"] = draw(ids)
        else:
            body["lead_id"] = draw(ids)
        body.update(draw(_sources(weird)))
        properties = draw(_properties(event_type, weird))
        if properties or event_type in REQUIRED_PROPERTIES or draw(st.booleans()):
            body["properties"] = properties
    extra = draw(_extra_fields(weird))  # unknown fields: ignored (forward compatibility)
    if extra:
        into = body.get("properties") if draw(st.booleans()) else None
        for name, value in extra.items():
            (into if isinstance(into, dict) else body).setdefault(name, value)
    return topic, body


@functools.cache
def _events(
    kind: TopicKind | None = None, weird: bool = False
) -> st.SearchStrategy[tuple[TopicKind, dict[str, Any]]]:
    return event_dicts(kind, weird)


def _one(draw: st.DrawFn, options: Sequence[Any]) -> Any:
    """One of a sequence (cheaper than a new sampled_from strategy per draw)."""
    return options[draw(st.integers(0, len(options) - 1))]


# --------------------------------------------------------------------------- keys

_KEY_POOL: Final[tuple[bytes | None, ...]] = (
    None,
    b"",
    b"\x00",
    b"\x00\x00\x00",
    b"lead\x00id",
    b"\xff\xfe",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    "lead-é-\U0001f600".encode(),
    b"k" * 2000,
    *(f"fz-key-{i}".encode() for i in range(20)),
)


@st.composite
def _keys(draw: st.DrawFn) -> bytes | None:
    branch = draw(st.integers(0, 9))
    if branch == 0:
        return draw(st.text(max_size=40)).encode("utf-8")
    if branch == 1:
        return draw(st.binary(max_size=40))
    key: bytes | None = _one(draw, _KEY_POOL)
    return key


keys = _keys()
"""Kafka keys: absent, empty, text, binary (invalid UTF-8), NUL bytes, long."""

_small_keys = st.none() | st.just(b"") | st.text(max_size=20).map(lambda s: s.encode())

# --------------------------------------------------------------------------- categories


def _paths(body: dict[str, Any]) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = [(name,) for name in body]
    properties = body.get("properties")
    if isinstance(properties, dict):
        paths.extend(("properties", name) for name in properties)
    return paths


def _set(body: dict[str, Any], path: Sequence[str], value: Any) -> dict[str, Any]:
    out = dict(body)
    if len(path) == 1:
        out[path[0]] = value
    else:
        out[path[0]] = _set(out[path[0]], path[1:], value)
    return out


def _delete(body: dict[str, Any], path: Sequence[str]) -> dict[str, Any]:
    out = dict(body)
    if len(path) == 1:
        out.pop(path[0], None)
    else:
        out[path[0]] = _delete(out[path[0]], path[1:])
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Raw):
        return "number"
    return type(value).__name__


_OTHER_TYPED: Final[dict[str, st.SearchStrategy[Any]]] = {
    "null": st.none(),
    "bool": st.booleans(),
    "number": st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False),
    "str": st.text(max_size=10) | st.sampled_from(["123", "true", "null", "2026-01-01"]),
    "list": st.lists(st.integers(), max_size=3),
    "dict": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
}


_SOMETIMES = st.integers(0, 3).map(lambda n: n == 0)


@st.composite
def _valid(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events(weird=draw(_SOMETIMES)))
    return make_message(kind, draw(keys), draw(_serialized(body)))


@st.composite
def _valid_weird(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events(weird=True))
    value = draw(_serialized(body))
    if draw(st.integers(0, 9)) == 0:  # insignificant whitespace around the document
        value = _one(draw, [b" ", b"\n", b"\t", b"\r\n"]) + value + b"\n"
    return make_message(kind, draw(keys), value)


@st.composite
def _missing_field(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events(weird=draw(_SOMETIMES)))
    candidates: list[tuple[str, ...]] = [(n,) for n in REQUIRED_TOP[kind] if n in body]
    if kind == "website":
        candidates.append(("lead_id", "anonymous_id"))  # both identities gone
    if isinstance(body.get("properties"), dict):
        for name in REQUIRED_PROPERTIES.get(str(body.get("type")), ()):
            candidates.append(("properties", name))
    candidates.extend(_paths(body))  # any field: some are optional, then still valid
    choice = _one(draw, candidates)
    if choice == ("lead_id", "anonymous_id"):
        body = _delete(_delete(body, ("lead_id",)), ("anonymous_id",))
    else:
        body = _delete(body, choice)
    return make_message(kind, draw(keys), draw(_serialized(body)))


@st.composite
def _wrong_type(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events(weird=draw(_SOMETIMES)))
    path = _one(draw, _paths(body))
    current = body[path[0]] if len(path) == 1 else body[path[0]][path[1]]
    other = _one(draw, [t for t in _OTHER_TYPED if t != _json_type(current)])
    body = _set(body, path, draw(_OTHER_TYPED[other]))
    return make_message(kind, draw(keys), draw(_serialized(body)))


_BAD_VALUES: Final[dict[str, st.SearchStrategy[Any]]] = {
    "event_id": st.sampled_from(["", "x" * 129]) | st.text(min_size=129, max_size=300),
    "lead_id": st.sampled_from(["", "y" * 129]),
    "anonymous_id": st.sampled_from(["", "z" * 129]),
    "occurred_at": st.sampled_from(
        ["2026-01-01T00:00:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "yesterday", ""]
    ),
    "updated_at": st.sampled_from(["2026-01-01T10:00:00", "2026-04-31T00:00:00Z", "now"]),
    "company_size": st.integers(max_value=-1),
    "country": st.sampled_from(["usa", "us", "U", "USA", "1A", "DE "]),
    "seniority": st.sampled_from(["ceo", "VP", ""]),
}
_BAD_PROPERTIES: Final[dict[str, st.SearchStrategy[Any]]] = {
    "duration_s": st.floats(max_value=-1e-9, allow_infinity=False) | st.integers(max_value=-1),
    "minutes": st.sampled_from([-1, -0.5]),
    "category": st.sampled_from(["Pricing", "home", ""]),
    "asset_type": st.sampled_from(["video", "EBOOK"]),
    "form": st.sampled_from(["newsletter", "demo", ""]),
    "intent": st.sampled_from(["maybe", "PRICING"]),
    "bounce": st.sampled_from(["hardest", ""]),
    "direction": st.sampled_from(["sideways", "in"]),
    "outcome": st.sampled_from(["hung_up", "Connected"]),
    "topics": st.sampled_from([["weather"], ["pricing", "golf"]]),
    "disposition": st.sampled_from(["maybe_later", ""]),
    "kind": st.sampled_from(["lunch", "Demo"]),
}


@st.composite
def _invalid_value(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events(weird=draw(_SOMETIMES)))
    properties = body.get("properties")
    if not isinstance(properties, dict):
        properties = {}
    profile_fields = ("company_size", "country", "seniority") if kind == "profile" else ()
    candidates: list[tuple[str, ...]] = [
        (n,) for n in _BAD_VALUES if n in body or n in profile_fields
    ]
    candidates += [("properties", n) for n in _BAD_PROPERTIES if n in properties]
    path = _one(draw, candidates)
    bad = _BAD_VALUES[path[0]] if len(path) == 1 else _BAD_PROPERTIES[path[1]]
    body = _set(body, path, draw(bad))
    return make_message(kind, draw(keys), draw(_serialized(body)))


_ALL_TYPES: Final = tuple(t for types in EVENT_TYPES.values() for t in types)
_UNKNOWN_TYPES: Final = st.one_of(
    st.sampled_from(_ALL_TYPES),  # mostly another topic's type
    st.sampled_from(["fax_sent", "", "PAGE_VIEW", " page_view", "page-view", "profile"]),
    st.text(max_size=20),
)


@st.composite
def _unknown_type(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events(kind=_one(draw, ("website", "email", "call"))))
    own = EVENT_TYPES[kind]
    unknown = draw(_UNKNOWN_TYPES)
    if unknown in own:
        unknown += "_x"
    body["type"] = unknown
    return make_message(kind, draw(keys), draw(_serialized(body)))


_NON_OBJECTS: Final = st.one_of(
    st.lists(json_values, max_size=4),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


@st.composite
def _not_an_object(draw: st.DrawFn) -> FuzzMessage:
    kind = _one(draw, TOPIC_KINDS)
    _, body = draw(_events(kind=kind))
    value = [body] if draw(st.integers(0, 5)) == 0 else draw(_NON_OBJECTS)
    return make_message(kind, draw(keys), draw(_serialized(value)))


_JSON_GARBAGE: Final = [
    b"{",
    b"}",
    b"{not json",
    b"{'event_id': 'single quotes'}",
    b'{"event_id": "x",}',
    b"{event_id: 1}",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": -Infinity}',
    b'{"a": 01}',
    b'{"a": 1.}',
    b'{"a": .5}',
    b'{"a": +1}',
    b'{"a": 0x10}',
    b'{"a": "\\x41"}',
    b'{"a": "\\ud800"}',
    b'{"a": "\\udc00\\ud800"}',
    b'{"a": "tab\there"}',
    b'{"a": "line\nbreak"}',
    b"/* comment */ {}",
    b"{} // comment",
    b"{}{}",
    b"[] []",
    b"\xef\xbb\xbf{}",
    b"undefined",
    b"True",
    b"None",
    b"nul",
    b'"unterminated',
    b"\x1b[31m{}",
]


@st.composite
def _invalid_json(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events(weird=draw(_SOMETIMES)))
    value = draw(_serialized(body))
    how = _one(draw, ["truncate", "garbage", "splice", "text", "trailing"])
    if how == "truncate":
        value = value[: draw(st.integers(1, max(1, len(value) - 1)))]
    elif how == "garbage":
        value = _one(draw, _JSON_GARBAGE)
    elif how == "splice":
        at = draw(st.integers(0, len(value)))
        value = value[:at] + _one(draw, [b",", b"{", b"]", b'"', b":", b"\\"]) + value[at:]
    elif how == "text":
        value = draw(st.text(min_size=1, max_size=60)).encode("utf-8")
    else:
        value += _one(draw, [b" x", b",", b"}", b"{}", b"\x7f"])
    return make_message(kind, draw(keys), value)


_BAD_UTF8: Final = [
    b"\xff",
    b"\xfe",
    b"\xc0\x80",  # overlong NUL
    b"\xc3",  # truncated two-byte sequence
    b"\xe2\x82",  # truncated three-byte sequence
    b"\xed\xa0\x80",  # UTF-16 surrogate encoded (CESU-8)
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\x80",  # lone continuation byte
    b"\xf8\x88\x80\x80\x80",  # five-byte form
]


@st.composite
def _invalid_utf8(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events())
    how = _one(draw, ["in_string", "anywhere", "binary", "latin1"])
    if how == "binary":
        value = draw(st.binary(min_size=1, max_size=200)) + _one(draw, _BAD_UTF8)
    elif how == "latin1":
        body["source"] = "Café Müller ©"
        value = dumps(body).decode("utf-8").encode("latin-1", errors="replace")
    else:
        value = dumps(body)
        if how == "in_string":
            at = value.index(b'"', value.index(b":")) + 1  # inside the first value string
        else:
            at = draw(st.integers(0, len(value)))
        value = value[:at] + _one(draw, _BAD_UTF8) + value[at:]
    return make_message(kind, draw(keys), value)


@st.composite
def _null_bytes(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events())
    how = _one(draw, ["raw_in_string", "escaped", "between", "trailing", "only", "prefix"])
    value = dumps(body)
    if how == "raw_in_string":
        at = value.index(b'"', value.index(b":")) + 1
        value = value[:at] + b"\x00" + value[at:]
    elif how == "escaped":  # "\u0000" inside strings: valid JSON and valid ids
        body["event_id"] = "fz\x00" + str(body.get("event_id", ""))[:120]
        body["source"] = "\x00" * draw(st.integers(1, 5))
        value = dumps(body, ascii_only=draw(st.booleans()))
    elif how == "between":
        value = value.replace(b",", b",\x00", 1)
    elif how == "trailing":
        value += b"\x00" * draw(st.integers(1, 3))
    elif how == "only":
        value = b"\x00" * draw(st.integers(1, 100))
    else:
        value = b"\x00" + value
    return make_message(kind, draw(keys), value)


@st.composite
def _deep_nesting(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events())
    depth = _one(draw, [2, 10, 50, 100, 150, 190, 199, 200, 201, 255, 1000, 5000, 20_000])
    opener, closer = _one(draw, [(b"[", b"]"), (b'{"a":', b"}"), (b'[{"b":', b"}]")])
    nested = opener * depth + b"1" + closer * depth
    where = _one(draw, ["extra_field", "property", "top"])
    if where == "top":
        value = nested
    else:
        placeholder = "\x01nested\x02"
        if where == "property" and isinstance(body.get("properties"), dict):
            body["properties"]["deep"] = placeholder
        else:
            body["deep"] = placeholder
        value = dumps(body).replace(dumps(placeholder), nested)
    return make_message(kind, draw(keys), value)


_EXTREME_TIMESTAMPS: Final = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59+23:59",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "+2026-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999999999Z",
    "1970-01-01T00:00:00Z",
    "2038-01-19T03:14:08Z",
    "2026-06-30T23:59:60Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00",
    "2026-01-01",
    "2026-01-01T00:00:00.Z",
    "9999-12-31T24:00:00Z",
]


_EXTREME_TIMESTAMP_VALUES: Final = st.one_of(
    st.sampled_from(_EXTREME_TIMESTAMPS),
    rfc3339(_EDGE_YEARS),
    rfc3339(st.sampled_from([1, 2, 9998, 9999]), strict=False),
    st.integers(-(2**63), 2**63).map(str),
)


@st.composite
def _extreme_timestamp(draw: st.DrawFn) -> FuzzMessage:
    kind, body = draw(_events())
    field = "updated_at" if kind == "profile" else "occurred_at"
    body[field] = draw(_EXTREME_TIMESTAMP_VALUES)
    return make_message(kind, draw(keys), draw(_serialized(body)))


@st.composite
def _empty_value(draw: st.DrawFn) -> FuzzMessage:
    """An empty value or none at all (a tombstone; aiokafka sends one only with a key)."""
    value: bytes | None = _one(draw, [b"", None])
    key = draw(keys)
    if value is None and key is None:
        key = b""
    return make_message(_one(draw, TOPIC_KINDS), key, value)


_LARGE_SIZES: Final = [
    MAX_VALUE_BYTES - 1,
    MAX_VALUE_BYTES,
    MAX_VALUE_BYTES + 1,
    300_000,
    512 * 1024,
    1_000_000,
    BROKER_SAFE_VALUE_BYTES,
]


_SIZES: Final = st.sampled_from(_LARGE_SIZES) | st.integers(1000, BROKER_SAFE_VALUE_BYTES)


@st.composite
def _large(draw: st.DrawFn) -> FuzzMessage:
    """Values around leadq's limit and up to ~1 MB; the largest a default broker accepts."""
    kind, body = draw(_events())
    size = draw(_SIZES)
    pattern = _one(draw, ["padded_event", "ascii", "nul", "invalid_utf8", "quotes"])
    if pattern == "padded_event":  # a valid event grown by an unknown field to `size` bytes
        body["padding"] = ""
        base = dumps(body)
        body["padding"] = "p" * max(0, size - len(base))
        value = dumps(body)
    else:
        unit = {"ascii": b"x", "nul": b"\x00", "invalid_utf8": b"\xff", "quotes": b'"\\'}[pattern]
        value = (unit * (size // len(unit) + 1))[:size]
    return make_message(kind, draw(_small_keys), value)


_STRATEGIES: Final[dict[str, Callable[[], st.SearchStrategy[FuzzMessage]]]] = {
    "valid": _valid,
    "valid_weird": _valid_weird,
    "invalid_utf8": _invalid_utf8,
    "invalid_json": _invalid_json,
    "wrong_type": _wrong_type,
    "missing_field": _missing_field,
    "invalid_value": _invalid_value,
    "unknown_type": _unknown_type,
    "not_an_object": _not_an_object,
    "large": _large,
    "deep_nesting": _deep_nesting,
    "extreme_timestamp": _extreme_timestamp,
    "empty_value": _empty_value,
    "null_bytes": _null_bytes,
}


def message_strategy(category: str) -> st.SearchStrategy[FuzzMessage]:
    """Messages of one category (``valid`` or one of CATEGORIES)."""
    return _STRATEGIES[category]()


def messages(large: bool = False) -> st.SearchStrategy[tuple[str, FuzzMessage]]:
    """(category, message) over every category; ``large`` values only when asked (slow)."""
    names = [c for c in _STRATEGIES if large or c != "large"]
    return st.one_of(*(st.tuples(st.just(c), message_strategy(c)) for c in names))


# --------------------------------------------------------------------------- hand-picked


def _call(lead: str, **changes: Any) -> bytes:
    """A call_completed event of lead ``fz-hand-<lead>``, with changes."""
    body: dict[str, Any] = {
        "event_id": f"fz-hand-{lead}-call",
        "lead_id": f"fz-hand-{lead}",
        "type": "call_completed",
        "occurred_at": "2026-03-01T10:00:00Z",
        "properties": {"direction": "inbound", "duration_s": 300, "outcome": "connected"},
    }
    body.update(changes)
    return dumps(body)


def _demo_request(lead: str) -> bytes:
    return dumps(
        {
            "event_id": f"fz-hand-{lead}-demo",
            "lead_id": f"fz-hand-{lead}",
            "type": "form_submit",
            "occurred_at": "2026-03-01T09:00:00Z",
            "properties": {"form": "demo_request"},
        }
    )


def _hand(
    category: str, kind: TopicKind, value: bytes | None, key: bytes | None = None
) -> tuple[str, FuzzMessage]:
    return category, make_message(kind, key, value)


HANDPICKED: Final[list[tuple[str, FuzzMessage]]] = [
    _hand("empty_value", "website", b""),
    _hand("empty_value", "profile", None, b""),
    _hand("invalid_utf8", "email", b"\xff\xfe\x00garbage"),
    _hand("invalid_json", "call", b"{not json"),
    _hand("null_bytes", "website", b"\x00", b"\x00"),
    _hand("null_bytes", "call", _call("nul", source="a\x00b")),  # valid: escaped NUL
    _hand("not_an_object", "profile", b"[1, 2, 3]"),
    _hand("deep_nesting", "call", b"[" * 100_000 + b"]" * 100_000),
    # Valid RFC 3339 at both ends of the range, with offsets that leave it in UTC.
    _hand("extreme_timestamp", "call", _call("y1", occurred_at="0001-01-01T00:00:00+01:00")),
    _hand(
        "extreme_timestamp", "call", _call("y9999", occurred_at="9999-12-31T23:59:59.999999-23:59")
    ),
    _hand("large", "website", b"x" * (MAX_VALUE_BYTES + 1)),
    # Under leadq's limit, but "\u0000" makes its dead letter 6 times as large.
    _hand("large", "email", b"\x00" * 200_000),
    _hand("large", "call", b"y" * BROKER_SAFE_VALUE_BYTES),
    # A duration of 1e999 is a valid JSON number (infinity); the call is a rep conversation
    # that, with the demo request, makes the lead an SQO.
    _hand("valid_weird", "website", _demo_request("inf")),
    _hand(
        "valid_weird",
        "call",
        _call(
            "inf",
            properties={"direction": "inbound", "duration_s": Raw("1e999"), "outcome": "connected"},
        ),
    ),
    # company_size beyond 64 bits: a valid JSON integer.
    _hand(
        "valid_weird",
        "profile",
        dumps(
            {"lead_id": "fz-hand-big", "updated_at": "2026-03-01T10:00:00Z", "company_size": 10**30}
        ),
    ),
]
"""Known-nasty messages every fuzz corpus includes, whatever Hypothesis draws."""


# --------------------------------------------------------------------------- corpus


def draw_examples(strategy: st.SearchStrategy[Any], count: int, seed_value: int) -> list[Any]:
    """``count`` examples of a strategy, the same ones at every run.

    A single Hypothesis example cannot hold thousands of messages (an example has a
    bounded number of choices), and ``strategy.example()`` is random and meant for the
    REPL. So this runs Hypothesis' own engine as a property test whose body only records
    its argument: ``@given`` with ``max_examples=count`` in the generate phase only, a
    fixed ``@seed``, no example database and no deadline. The engine then draws the same
    sequence of examples on every run (for a given Hypothesis version and strategy code).
    Hypothesis may stop early when a small search space is exhausted, so the result can
    hold fewer than ``count`` examples.
    """
    found: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
        print_blob=False,
    )
    @seed(seed_value)
    @given(strategy)
    def record(example: Any) -> None:
        found.append(example)

    record()
    return found


def corpus_rounds(
    counts: Mapping[str, int] = DEFAULT_COUNTS, seed_value: int = 20260301, rounds: int = 1
) -> Iterator[list[tuple[str, FuzzMessage]]]:
    """``counts`` (category, message) pairs, plus HANDPICKED, in ``rounds`` shuffled parts.

    Each part holds about 1/rounds of every category, so a consumer can send one part
    while the next is drawn. Deterministic: the same arguments give the same parts.
    """
    global _serial
    _serial = itertools.count()
    rng = random.Random(seed_value)
    for part in range(rounds):
        corpus: list[tuple[str, FuzzMessage]] = list(HANDPICKED) if part == 0 else []
        for index, (category, count) in enumerate(sorted(counts.items())):
            share = count * (part + 1) // rounds - count * part // rounds
            if share <= 0:
                continue
            seed_of_part = seed_value + 1000 * part + index
            drawn = draw_examples(message_strategy(category), share, seed_of_part)
            corpus.extend((category, message) for message in drawn)
        rng.shuffle(corpus)
        yield corpus


def draw_corpus(
    counts: Mapping[str, int] = DEFAULT_COUNTS, seed_value: int = 20260301
) -> list[tuple[str, FuzzMessage]]:
    """(category, message) pairs: ``counts`` per category plus HANDPICKED, shuffled.

    Deterministic: the same counts and seed give the same list in the same order.
    """
    return [pair for part in corpus_rounds(counts, seed_value) for pair in part]
