"""The fast path gives what the pydantic contract gives: the same events, the same rejections."""

from __future__ import annotations

import json
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas.decode import TOPIC_KINDS, Rejection, TopicKind, decode
from schemas.events import (
    EVENT_TYPES,
    PROFILE_FIELDS,
    CallEvent,
    EmailEvent,
    ProfileRecord,
    WebsiteEvent,
    enumerated_properties,
    event_property_names,
)
from streams.core.events import EventOrigin, LeadEvent
from streams.tools.simulate.traffic import generate
from streams.worker.codec import read_lead_event, to_lead_event
from streams.worker.fast_decode import (
    EVENT_STRUCTS,
    MAX_FAST_BRACKETS,
    MAX_FAST_BYTES,
    PROFILE_STRUCT,
    fast_lead_event,
)
from tests.support.contract_edges import (
    EDGE_CASES,
    TS,
    body_of,
    email,
    extra,
    profile,
    website,
)
from tests.support.fuzz_messages import (
    FuzzMessage,
    Raw,
    dumps,
    event_dicts,
    json_documents,
    json_values,
    messages,
    rfc3339,
)

kinds = st.sampled_from(TOPIC_KINDS)
fuzz_settings = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def contract(kind: TopicKind, raw: bytes | None) -> LeadEvent | Rejection:
    """The pydantic path alone: decode, then to_lead_event."""
    decoded = decode(kind, raw)
    return decoded if isinstance(decoded, Rejection) else to_lead_event(decoded)


def same_answer(kind: TopicKind, raw: bytes | None) -> LeadEvent | Rejection:
    """read_lead_event answers as the contract does, and the fast path never accepts what
    the contract rejects nor makes another event of what it accepts."""
    want = contract(kind, raw)
    got = read_lead_event(kind, raw)
    fast = None if raw is None else fast_lead_event(kind, raw)
    if isinstance(want, Rejection):
        assert got == want
        assert fast is None, (raw, fast, want)
        return want
    assert isinstance(got, LeadEvent), (raw, got)
    for event in (got, fast) if fast is not None else (got,):
        # repr shows value types, the order of properties and the time zone's class too.
        assert event == want, raw
        assert repr(event) == repr(want), raw
        assert event.at_ms == want.at_ms
    return want


@pytest.mark.parametrize(
    ("kind", "value"), [pytest.param(k, v, id=name) for name, k, v in EDGE_CASES]
)
def test_edge_cases_get_the_contracts_answer(
    kind: TopicKind, value: bytes | dict[str, Any]
) -> None:
    raw = value if isinstance(value, bytes) else dumps(value)
    same_answer(kind, raw)


def test_the_edge_cases_are_accepted_and_rejected_both() -> None:
    answers = [contract(k, v if isinstance(v, bytes) else dumps(v)) for _, k, v in EDGE_CASES]
    assert sum(isinstance(a, LeadEvent) for a in answers) >= 40
    assert sum(isinstance(a, Rejection) for a in answers) >= 40


def test_no_value_is_rejected_as_empty() -> None:
    assert read_lead_event("website", None) == contract("website", None)


def test_simulated_traffic_takes_the_fast_path_to_the_contracts_events() -> None:
    simulated = generate(300, seed=11)
    assert {e.kind for e in simulated} == set(TOPIC_KINDS)
    for index, e in enumerate(simulated):
        raw = json.dumps(e.value).encode()
        origin = EventOrigin(e.kind, index % 3, index, 1_700_000_000_000 + index)
        fast = fast_lead_event(e.kind, raw, origin)
        assert fast is not None, raw
        want = to_lead_event(decode(e.kind, raw), origin)  # type: ignore[arg-type]
        assert repr(fast) == repr(want)
        assert fast.origin == origin


def test_valid_values_with_unknown_fields_nulls_and_unicode_take_the_fast_path() -> None:
    cases: list[tuple[TopicKind, dict[str, Any]]] = [
        ("website", website(utm={"a": [1, None]}, properties={"url": "/", "category": None})),
        ("email", email(source=None, properties={"intent": "meeting", "x": {"y": [1]}})),
        ("profile", profile(company="Müller", event_id=None)),
        ("call", body_of("call", occurred_at="0001-01-01T00:00:00+23:59")),
    ]
    for kind, value in cases:
        assert fast_lead_event(kind, dumps(value)) is not None, value


@fuzz_settings
@given(labelled=messages())
def test_fuzzed_messages_of_every_category_get_the_contracts_answer(
    labelled: tuple[str, FuzzMessage],
) -> None:
    _, message = labelled
    same_answer(message.kind, message.value)


@fuzz_settings
@given(kind=kinds, raw=st.binary(max_size=500))
@example(kind="email", raw=b"\xff\xfe")
def test_arbitrary_bytes_get_the_contracts_answer(kind: TopicKind, raw: bytes) -> None:
    same_answer(kind, raw)


@fuzz_settings
@given(kind=kinds, raw=json_documents)
def test_arbitrary_json_gets_the_contracts_answer(kind: TopicKind, raw: bytes) -> None:
    same_answer(kind, raw)


@fuzz_settings
@given(event=event_dicts(weird=True), ascii_only=st.booleans())
def test_weird_events_get_the_contracts_answer(
    event: tuple[TopicKind, dict[str, object]], ascii_only: bool
) -> None:
    """Valid but weird (years 1 and 9999, ids of 128 characters, escaped NULs, unknown
    fields), but for numbers beyond the contract's bounds."""
    kind, body = event
    same_answer(kind, dumps(body, ascii_only=ascii_only))


_TRICKY_VALUES = st.one_of(
    json_values,
    st.sampled_from(
        [
            "",
            "x" * 129,
            "300",
            "true",
            "null",
            TS,
            "DE",
            "pricing",
            "inbound",
            "profile",
            "page_view",
            True,
            False,
            0,
            -0.0,
            -1,
            1.5,
            2**63,
            10**30,
            Raw("1e999"),
            Raw("-0"),
            [],
            {},
            ["pricing"],
        ]
    ),
)
_FIELDS = (
    "event_id",
    "lead_id",
    "anonymous_id",
    "type",
    "occurred_at",
    "updated_at",
    "source",
    "properties",
    *PROFILE_FIELDS,
)
_PROPERTIES = sorted(
    {name for t in EVENT_TYPES for name in event_property_names(t) or ()} - set(PROFILE_FIELDS)
)


@fuzz_settings
@given(
    event=event_dicts(),
    field=st.sampled_from(_FIELDS) | st.sampled_from(_PROPERTIES).map(lambda n: f"properties.{n}"),
    value=_TRICKY_VALUES,
)
def test_any_value_in_any_field_gets_the_contracts_answer(
    event: tuple[TopicKind, dict[str, Any]], field: str, value: object
) -> None:
    kind, body = event
    if field.startswith("properties."):
        if not isinstance(body.get("properties"), dict):
            body["properties"] = {}
        body["properties"][field.removeprefix("properties.")] = value
    else:
        body[field] = value
    same_answer(kind, dumps(body))


@fuzz_settings
@given(
    event=event_dicts(),
    timestamp=st.one_of(
        rfc3339(),
        rfc3339(strict=False),
        st.from_regex(
            r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,12})?"
            r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?\Z"
        ),
        st.text(max_size=40),
    ),
)
@example(event=("email", email()), timestamp="2026-03-01T10:00:00.000001+14:00")
def test_timestamps_get_the_contracts_answer(
    event: tuple[TopicKind, dict[str, Any]], timestamp: str
) -> None:
    kind, body = event
    body["updated_at" if kind == "profile" else "occurred_at"] = timestamp
    same_answer(kind, dumps(body))


@pytest.mark.parametrize("depth", [MAX_FAST_BRACKETS - 2, MAX_FAST_BRACKETS, 250])
def test_nesting_near_the_limits_gets_the_contracts_answer(depth: int) -> None:
    for opener, closer in [(b"[", b"]"), (b'{"a":', b"}")]:
        same_answer("email", extra(opener * depth + b"1" + closer * depth))


# --------------------------------------------------------------------------- the mirror


def _literals(info: msgspec.inspect.Type) -> tuple[str, ...]:
    if isinstance(info, msgspec.inspect.LiteralType):
        return tuple(str(v) for v in info.values)
    if isinstance(info, msgspec.inspect.UnionType):
        return tuple(v for t in info.types for v in _literals(t))
    if isinstance(info, msgspec.inspect.ListType):
        return _literals(info.item_type)
    return ()


def _fields(struct: type) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """name -> (required, sorted enumerated values) of a msgspec struct's fields."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    return {f.name: (f.required, tuple(sorted(_literals(f.type)))) for f in info.fields}


def _required(model: type[BaseModel]) -> dict[str, bool]:
    return {name: field.is_required() for name, field in model.model_fields.items()}


def test_the_mirror_has_the_contracts_event_types_fields_and_values() -> None:
    """The structs of the fast path have every event type, field and enumerated value of
    the pydantic models, and require what they require: a value the mirror lacks would
    only take the slow path, so the value tests above cannot tell."""
    models = {
        get_args(model.model_fields["type"].annotation)[0]: model
        for union in (WebsiteEvent, EmailEvent, CallEvent)
        for model in get_args(get_args(union)[0])
    }
    assert set(EVENT_STRUCTS) == set(models)
    for event_type, model in models.items():
        struct = EVENT_STRUCTS[event_type]
        envelope = {name: required for name, (required, _) in _fields(struct).items()}
        assert envelope == {n: r for n, r in _required(model).items() if n != "type"}, event_type
        properties = model.model_fields["properties"].annotation
        assert isinstance(properties, type)
        assert issubclass(properties, BaseModel)
        mirrored = _fields(_properties_struct(struct))
        assert {n: r for n, (r, _) in mirrored.items()} == _required(properties), event_type
        enumerated = enumerated_properties(event_type)
        for name, (_, values) in mirrored.items():
            assert values == tuple(sorted(enumerated.get(name, ()))), (event_type, name)
    profile = _fields(PROFILE_STRUCT)
    assert {n: r for n, (r, _) in profile.items()} == _required(ProfileRecord)
    assert profile["seniority"][1] == tuple(sorted(_literal_args(ProfileRecord, "seniority")))


def _literal_args(model: type[BaseModel], name: str) -> tuple[str, ...]:
    """The values of an optional Literal field of a model."""
    [literal] = [arg for arg in get_args(model.model_fields[name].annotation) if get_args(arg)]
    return get_args(literal)


def _properties_struct(cls: type) -> type:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    [props] = [f.type for f in info.fields if f.name == "properties"]
    assert isinstance(props, msgspec.inspect.StructType)
    return props.cls


def test_values_that_the_fast_path_leaves_alone_still_get_an_answer() -> None:
    raw = extra(b'"' + b"p" * MAX_FAST_BYTES + b'"')
    assert fast_lead_event("email", raw) is None
    assert isinstance(read_lead_event("email", raw), LeadEvent)
