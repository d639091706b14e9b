"""Input values on the edges of the contract, to ask both decoding paths about.

EDGE_CASES says nothing of the answers (the tests compare the paths), only of what is
worth asking: extra fields, nulls, wrong types, numbers as strings, timestamps of every
spelling, huge numbers, unicode, empty strings, missing ids, duplicate and escaped keys,
nesting and size around the fast path's limits.
"""

from __future__ import annotations

from typing import Any

from schemas.decode import TopicKind
from streams.worker.fast_decode import MAX_FAST_BRACKETS, MAX_FAST_BYTES
from tests.support.fuzz_messages import Raw, dumps

DROP = object()  # a change that removes the field


def body_of(kind: TopicKind, **changes: Any) -> dict[str, Any]:
    """A valid message of the kind, with changes (DROP removes a field)."""
    bodies: dict[TopicKind, dict[str, Any]] = {
        "website": {
            "event_id": "e-1",
            "type": "page_view",
            "anonymous_id": "v-1",
            "occurred_at": "2026-03-01T10:00:00.151+00:00",
            "source": "web-tracker",
            "properties": {"url": "https://example.com/pricing", "category": "pricing"},
        },
        "email": {
            "event_id": "e-2",
            "type": "email_replied",
            "lead_id": "L-1",
            "occurred_at": "2026-03-01T10:00:00Z",
            "properties": {"intent": "meeting"},
        },
        "call": {
            "event_id": "e-3",
            "type": "call_completed",
            "lead_id": "L-1",
            "occurred_at": "2026-03-01T10:00:00-05:00",
            "properties": {
                "direction": "inbound",
                "duration_s": 300,
                "outcome": "connected",
                "topics": ["pricing", "demo"],
                "disposition": "interested",
            },
        },
        "profile": {
            "lead_id": "L-1",
            "updated_at": "2026-03-01T10:00:00+01:00",
            "company": "Acme",
            "company_size": 250,
            "country": "DE",
            "seniority": "vp",
        },
    }
    body = bodies[kind] | changes
    return {name: value for name, value in body.items() if value is not DROP}


def website(**changes: Any) -> dict[str, Any]:
    return body_of("website", **changes)


def email(**changes: Any) -> dict[str, Any]:
    return body_of("email", **changes)


def profile(**changes: Any) -> dict[str, Any]:
    return body_of("profile", **changes)


def at(timestamp: str) -> dict[str, Any]:
    """An email event that occurred at the timestamp."""
    return email(occurred_at=timestamp)


def call(**properties: Any) -> dict[str, Any]:
    """A call_completed event with these changes to its properties."""
    return body_of("call", properties=body_of("call")["properties"] | properties)


def webinar(**properties: Any) -> dict[str, Any]:
    return website(type="webinar_attended", properties={"webinar": "w", **properties})


TS = "2026-03-01T10:00:00Z"
DIGITS = b"1" * 4300
EVENT = b'{"event_id":"e","lead_id":"l","type":"email_sent","occurred_at":"2026-03-01T10:00:00Z"'


def extra(value: bytes) -> bytes:
    """An email event with an unknown field of this JSON text."""
    return EVENT + b',"x":' + value + b"}"


def nested(depth: int) -> bytes:
    """An email event with an unknown field nested `depth` arrays deep."""
    return extra(b"[" * depth + b"]" * depth)


EDGE_CASES: list[tuple[str, TopicKind, bytes | dict[str, Any]]] = [
    # extra fields
    ("extra top-level", "website", website(utm={"a": [1, None]}, topic="x")),
    ("extra property", "call", call(mood="good")),
    ("extra on no properties", "email", email(type="email_sent", properties={"a": 1})),
    ("properties of a type without", "email", email(type="email_opened")),
    ("no properties at all", "email", email(type="email_sent", properties=DROP)),
    ("identify defaults", "website", website(type="identify", properties=DROP)),
    ("identify with email", "website", website(type="identify", properties={"email": "a@b"})),
    # nulls
    ("null source", "email", email(source=None)),
    ("null optional property", "website", website(properties={"url": "/", "category": None})),
    ("null lead_id, anonymous", "website", website(lead_id=None)),
    ("null identities", "website", website(lead_id=None, anonymous_id=None)),
    ("null lead_id", "email", email(lead_id=None)),
    ("null properties", "call", body_of("call", properties=None)),
    ("null properties, optional", "email", email(properties=None)),
    ("null event_id, profile", "profile", profile(event_id=None)),
    ("null type, profile", "profile", profile(type=None)),
    ("null company_size", "profile", profile(company_size=None)),
    ("null topics", "call", call(topics=None)),
    ("null in topics", "call", call(topics=[None])),
    # wrong types, numbers as strings, bool against int
    ("event_id number", "website", website(event_id=5)),
    ("lead_id bool", "email", email(lead_id=True)),
    ("duration as string", "call", call(duration_s="300")),
    ("duration true", "call", call(duration_s=True)),
    ("duration false", "call", call(duration_s=False)),
    ("company_size float", "profile", profile(company_size=5.0)),
    ("company_size string", "profile", profile(company_size="5")),
    ("company_size true", "profile", profile(company_size=True)),
    ("minutes true", "website", webinar(minutes=True)),
    ("minutes int", "website", webinar(minutes=7)),
    ("topics string", "call", call(topics="pricing")),
    ("topics numbers", "call", call(topics=[1])),
    ("properties array", "call", body_of("call", properties=[])),
    ("properties string", "email", email(properties="{}")),
    ("timestamp number", "email", email(occurred_at=1_700_000_000)),
    ("timestamp numeric string", "email", at("1700000000")),
    ("type number", "email", email(type=1)),
    ("source number", "email", email(source=1)),
    ("not an object", "profile", b"[1, 2]"),
    ("null document", "email", b"null"),
    # timestamps
    ("no offset", "email", at("2026-03-01T10:00:00")),
    ("date only", "email", at("2026-03-01")),
    ("lowercase t and z", "email", at("2026-03-01t10:00:00z")),
    ("space separator", "email", at("2026-03-01 10:00:00Z")),
    ("minutes only", "email", at("2026-03-01T10:00Z")),
    ("one fraction digit", "email", at("2026-03-01T10:00:00.5Z")),
    ("nine fraction digits", "email", at("2026-03-01T10:00:00.999999999Z")),
    ("ten fraction digits", "email", at("2026-03-01T10:00:00.9999999999Z")),
    ("comma fraction", "email", at("2026-03-01T10:00:00,5Z")),
    ("empty fraction", "email", at("2026-03-01T10:00:00.Z")),
    ("leap second", "email", at("2026-06-30T23:59:60Z")),
    ("hour 24", "email", at("2026-06-30T24:00:00Z")),
    ("february 29th, 2026", "email", at("2026-02-29T10:00:00Z")),
    ("february 29th, 2028", "email", at("2028-02-29T10:00:00Z")),
    ("offset 24 hours", "email", at("2026-03-01T10:00:00+24:00")),
    ("offset minute 60", "email", at("2026-03-01T10:00:00+23:60")),
    ("offset -00:00", "email", at("2026-03-01T10:00:00-00:00")),
    ("offset without colon", "email", at("2026-03-01T10:00:00+0100")),
    ("offset hours only", "email", at("2026-03-01T10:00:00+01")),
    ("offset with seconds", "email", at("2026-03-01T10:00:00+01:00:30")),
    ("year 0", "email", at("0000-01-01T00:00:00Z")),
    ("year 1, east", "email", at("0001-01-01T00:00:00+23:59")),
    ("year 9999, west", "email", at("9999-12-31T23:59:59.999999-23:59")),
    ("year 10000", "email", at("10000-01-01T00:00:00Z")),
    ("fullwidth digit", "email", at("\uff12026-03-01T10:00:00Z")),
    ("profile's own id", "profile", profile(updated_at="2026-03-01T10:00:00.5-02:30")),
    # huge and extreme numbers
    ("company_size 10**30", "profile", profile(company_size=10**30)),
    ("company_size 2**63", "profile", profile(company_size=2**63)),
    ("company_size at the limit", "profile", profile(company_size=100_000_000)),
    ("company_size over the limit", "profile", profile(company_size=100_000_001)),
    ("company_size negative", "profile", profile(company_size=-1)),
    ("duration 10**31", "call", call(duration_s=10**31)),
    ("duration 10**400", "call", call(duration_s=10**400)),
    ("duration 1e999", "call", call(duration_s=Raw("1e999"))),
    ("duration -0", "call", call(duration_s=Raw("-0"))),
    ("duration -0.0", "call", call(duration_s=-0.0)),
    ("duration 1e-400", "call", call(duration_s=Raw("1e-400"))),
    ("duration 1E+2", "call", call(duration_s=Raw("1E+2"))),
    ("duration smallest", "call", call(duration_s=5e-324)),
    ("duration largest", "call", call(duration_s=1.7976931348623157e308)),
    ("duration negative", "call", call(duration_s=-1e-9)),
    ("duration NaN", "call", call(duration_s=Raw("NaN"))),
    ("NaN in an extra field", "email", extra(b"NaN")),
    ("Infinity in an extra field", "email", extra(b"-Infinity")),
    ("1e999 in an extra field", "email", extra(b"1e999")),
    ("4,300 digits in an extra field", "email", extra(DIGITS)),
    ("4,301 digits in an extra field", "email", extra(DIGITS + b"1")),
    ("4,301 digits before a fraction", "email", extra(DIGITS + b"1.5")),
    ("5,000 fraction digits", "email", extra(b"0." + b"1" * 5000)),
    # unicode
    ("emoji id of 128", "email", email(event_id="\U0001f600" * 128)),
    ("emoji id of 129", "email", email(event_id="\U0001f600" * 129)),
    ("escaped emoji id", "email", dumps(email(event_id="é\U0001f600" * 64), ascii_only=True)),
    ("escaped NUL", "email", email(lead_id="a\x00b", source="\x00")),
    ("line separator", "website", website(properties={"url": "/\u2028\u2029"})),
    ("non-ASCII", "profile", profile(company="Müller & Söhne — 株式会社")),
    ("fullwidth country", "profile", profile(country="\uff24\uff25")),
    ("accented country", "profile", profile(country="DÉ")),
    ("lowercase country", "profile", profile(country="de")),
    ("country and newline", "profile", profile(country="DE\n")),
    ("country of three", "profile", profile(country="DEU")),
    ("invalid UTF-8 in an extra field", "email", extra(b'"\xff"')),
    ("invalid UTF-8 in an extra key", "email", EVENT + b',"\xc0\x80":1}'),
    ("surrogate in UTF-8", "email", extra(b'"\xed\xa0\x80"')),
    ("lone surrogate escape", "email", extra(b'"\\ud800x"')),
    ("reversed surrogates", "email", extra(b'"\\udc00\\ud800"')),
    ("Latin-1 bytes", "email", EVENT.replace(b'"l"', b'"caf\xe9"') + b"}"),
    ("raw control character", "email", extra(b'"a\tb"')),
    ("byte order mark", "email", b"\xef\xbb\xbf" + EVENT + b"}"),
    # empty strings
    ("empty event_id", "website", website(event_id="")),
    ("empty lead_id", "email", email(lead_id="")),
    ("empty anonymous_id", "website", website(anonymous_id="")),
    ("empty url", "website", website(properties={"url": ""})),
    ("empty source", "email", email(source="")),
    ("empty country", "profile", profile(country="")),
    ("empty seniority", "profile", profile(seniority="")),
    ("empty type", "email", email(type="")),
    ("empty object", "call", b"{}"),
    ("empty value", "call", b""),
    ("NUL byte", "website", b"\x00"),
    ("id of 128", "email", email(lead_id="x" * 128)),
    ("id of 129", "email", email(lead_id="x" * 129)),
    # missing fields
    ("no event_id", "email", email(event_id=DROP)),
    ("no lead_id", "call", body_of("call", lead_id=DROP)),
    ("no identity", "website", website(anonymous_id=DROP)),
    ("both identities", "website", website(lead_id="L-9")),
    ("no type", "website", website(type=DROP)),
    ("no occurred_at", "call", body_of("call", occurred_at=DROP)),
    ("no required property", "call", body_of("call", properties={"direction": "inbound"})),
    ("no lead_id, profile", "profile", profile(lead_id=DROP)),
    ("no updated_at", "profile", profile(updated_at=DROP)),
    ("profile with its type", "profile", profile(type="profile")),
    ("profile with another type", "profile", profile(type="page_view")),
    ("another topic's type", "website", website(type="email_sent")),
    ("unknown type", "call", body_of("call", type="fax_sent")),
    ("unknown enumerated value", "call", call(outcome="Busy")),
    # duplicate and escaped keys: the last one counts
    ("type twice", "email", EVENT + b',"type":"email_opened"}'),
    ("type twice, unknown last", "email", EVENT + b',"type":"fax"}'),
    ("type twice, unknown first", "email", EVENT.replace(b'"type"', b'"type":"x","type"') + b"}"),
    ("lead_id twice, empty last", "email", EVENT + b',"lead_id":""}'),
    ("escaped key", "email", EVENT + b',"lead_\\u0069d":"m"}'),
    ("escaped type key", "email", EVENT + b',"typ\\u0065":"email_opened"}'),
    ("escaped type value", "email", EVENT.replace(b"email_sent", b"email_s\\u0065nt") + b"}"),
    # nesting, size and whitespace
    ("nested 199", "email", nested(199)),
    ("nested 200", "email", nested(200)),
    ("nested 201", "email", nested(201)),
    ("brackets in a string", "email", extra(b'"' + b"[" * (MAX_FAST_BRACKETS + 1) + b'"')),
    ("large", "email", extra(b'"' + b"p" * MAX_FAST_BYTES + b'"')),
    ("whitespace around", "email", b" \n\t" + EVENT + b"}\r\n"),
    ("trailing NUL", "email", EVENT + b"}\x00"),
    ("trailing garbage", "email", EVENT + b"} x"),
    ("two documents", "email", EVENT + b"}{}"),
    ("trailing comma", "email", EVENT + b",}"),
]
