"""The shipped JSON Schema files match the models and validate what the models accept; every
topic of schemas/asyncapi.yaml has one, and real records of every topic validate under it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator

from schemas.decode import Rejection, decode
from schemas.export import DOCUMENTS, JSON_DIR, schema_documents
from streams.alerts.routing import dead_letter_value, read_event
from streams.core.events import StageChanged
from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.core.sla import SlaEvent
from streams.core.state import LeadState
from streams.tools.scenarios import SCENARIOS, lead_events
from streams.tools.simulate.traffic import generate
from streams.worker.cloudevents import SLA_BREACHED, SLA_WARNING, STAGE_CHANGED
from streams.worker.codec import (
    encode_dead_letter,
    encode_stage_change,
    lead_stage_dict,
    outgoing_change,
    outgoing_sla,
    sla_event_dict,
    stage_change_dict,
)
from streams.worker.shadow import encode_shadow_change
from streams.worker.topics import (
    ALERTS_DEAD_LETTER,
    DEAD_LETTER,
    INPUT_TOPICS,
    LEAD_STAGES,
    SHADOW_STAGE_CHANGES,
    SLA,
    STAGE_CHANGES,
)


def test_files_are_up_to_date_with_the_models() -> None:
    for name, text in schema_documents().items():
        assert (JSON_DIR / name).read_text(encoding="utf-8") == text, f"run `make schemas` ({name})"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_scenario_event_is_valid_under_its_topic_schema(scenario: object) -> None:
    for step in scenario.steps:  # type: ignore[attr-defined]
        schema = json.loads((JSON_DIR / f"leads.{step.kind}.schema.json").read_text())
        jsonschema.validate(step.value, schema)


def test_stage_changes_and_dead_letters_validate_against_their_schemas() -> None:
    s = SCENARIOS[1]
    _, changes = Qualifier(load_ruleset(s.preset)).fold(lead_events(s.steps), key="lead")
    schema = json.loads((JSON_DIR / "leads.stage-changes.schema.json").read_text())
    for change in changes:
        jsonschema.validate(orjson.loads(encode_stage_change(change)), schema)
    rejection = decode("email", b"{}")
    assert isinstance(rejection, Rejection)
    dead = encode_dead_letter(
        source_topic="leads.email",
        partition=0,
        offset=7,
        key=None,
        value=b"\xff",
        rejection=rejection,
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    body = orjson.loads(dead)
    jsonschema.validate(body, json.loads((JSON_DIR / "leads.dead-letter.schema.json").read_text()))
    assert body["value_encoding"] == "base64"


# -- every topic of schemas/asyncapi.yaml: its schema file, and real records under it ---------

ASYNCAPI = JSON_DIR.parent / "asyncapi.yaml"
CONTRACT_TOPICS = {
    *INPUT_TOPICS.values(),
    STAGE_CHANGES,
    LEAD_STAGES,
    SLA,
    DEAD_LETTER,
    SHADOW_STAGE_CHANGES,
    ALERTS_DEAD_LETTER,
}
# Keywords that only one of draft-07 (the JSON Schema dialect AsyncAPI 3.0 supports, named in
# the messages' schemaFormat) and 2020-12 (the files' dialect) has, or that mean different
# things in the two. The files avoid them, so both drafts accept and reject the same records.
NOT_IN_BOTH_DRAFTS = frozenset(
    {
        "prefixItems",
        "unevaluatedItems",
        "unevaluatedProperties",
        "dependentRequired",
        "dependentSchemas",
        "minContains",
        "maxContains",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$vocabulary",
        "additionalItems",
        "dependencies",
        "definitions",
    }
)
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    return document


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` ('#/a/b') of the AsyncAPI document."""
    while "$ref" in node and node["$ref"].startswith("#/"):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _channel_schema_files() -> dict[str, list[str]]:
    """Topic -> the payload `$ref`s of the messages of its channel."""
    document = _asyncapi()
    out: dict[str, list[str]] = {}
    for channel in document["channels"].values():
        refs = out.setdefault(channel["address"], [])
        for message in channel["messages"].values():
            payload = _resolve(document, message)["payload"]
            assert payload["schemaFormat"] == "application/schema+json;version=draft-07"
            refs.append(payload["schema"]["$ref"])
    return out


def _schema(topic: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((JSON_DIR / f"{topic}.schema.json").read_text())
    return schema


def _check(record: dict[str, Any], topic: str) -> None:
    """`record` is valid under the topic's schema file, read as 2020-12 and as draft-07."""
    schema = _schema(topic)
    Draft202012Validator(schema).validate(record)
    Draft7Validator(schema).validate(record)


def _stage_changes() -> list[StageChanged]:
    out: list[StageChanged] = []
    for s in SCENARIOS:
        out.extend(Qualifier(load_ruleset(s.preset)).fold(lead_events(s.steps), key="lead")[1])
    return out


def _sla_events() -> list[SlaEvent]:
    """The SLA events of every scenario, its lead left alone after its last event: each
    timer tick the lead is due for, until nothing more can come."""
    out: list[SlaEvent] = []
    for s in SCENARIOS:
        qualifier = Qualifier(load_ruleset(s.preset))
        state = LeadState(key="lead")
        for event in lead_events(s.steps):
            decision = qualifier.process(state, event)
            state = decision.state
            out.extend(decision.sla)
        while (due := qualifier.next_due_ms(state)) is not None:
            decision = qualifier.tick(state, due)
            state = decision.state
            out.extend(decision.sla)
    return out


def _dead_letters() -> list[dict[str, Any]]:
    """Dead letters as the worker writes them: rejections found when reading, with keys and
    values that are text or not, and a value too large to keep whole."""
    inputs: list[tuple[str, bytes | None, bytes | None]] = [
        ("email", None, b"{}"),
        ("website", b"lead-1", b"\xff\xfe"),
        ("call", b"\xc3\x28", b"[1, 2]"),
        ("profile", b"lead-2", b""),
        ("website", None, b'{"event_id": "e", "type": "page_view"}' + b" " * (300 * 1024)),
    ]
    out = []
    for offset, (kind, key, value) in enumerate(inputs):
        rejection = decode(kind, value or b"")  # type: ignore[arg-type]
        assert isinstance(rejection, Rejection)
        raw = encode_dead_letter(
            source_topic=f"leads.{kind}",
            partition=1,
            offset=offset,
            key=key,
            value=value,
            rejection=rejection,
            received_at=WHEN,
        )
        out.append(orjson.loads(raw))
    return out


def _alert_dead_letters() -> list[dict[str, Any]]:
    """Alert dead letters as the alert service writes them: given up after attempts, and
    never attempted (a destination disabled before)."""
    change = stage_change_dict(_stage_changes()[0], WHEN)
    event = read_event("stage_changes", orjson.dumps(change))
    tried = dead_letter_value(
        destination="crm",
        event=event,
        source_topic=STAGE_CHANGES,
        reason="expired",
        attempts=12,
        last_status=503,
        last_error="HTTP 503: busy",
        first_attempt_at=WHEN,
        gave_up_at=WHEN,
    )
    never = dead_letter_value(
        destination="crm",
        event=event,
        source_topic=STAGE_CHANGES,
        reason="disabled",
        attempts=0,
        last_status=None,
        last_error=None,
        first_attempt_at=None,
        gave_up_at=WHEN,
    )
    return [orjson.loads(tried), orjson.loads(never)]


def test_every_contract_topic_is_a_channel_with_its_schema_file() -> None:
    files = _channel_schema_files()
    assert set(files) == CONTRACT_TOPICS
    assert set(files) == set(DOCUMENTS), "a topic without a schema file in schemas.export"
    for topic, refs in files.items():
        assert refs == [f"./json/{topic}.schema.json"], topic
        assert (ASYNCAPI.parent / refs[0]).is_file(), refs[0]


def test_every_channel_binding_names_its_topic() -> None:
    document = _asyncapi()
    compacted = {LEAD_STAGES}
    for channel in document["channels"].values():
        kafka = channel["bindings"]["kafka"]
        assert kafka["topic"] == channel["address"]
        policy = kafka.get("topicConfiguration", {}).get("cleanup.policy", ["delete"])
        assert ("compact" in policy) == (channel["address"] in compacted), channel["address"]


def test_schema_files_mean_the_same_in_draft_07_and_2020_12() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                # Property names are data, not keywords.
                if key in {"properties", "$defs"}:
                    for name, sub in value.items():
                        walk(sub, f"{where}/{key}/{name}")
                    continue
                assert key not in NOT_IN_BOTH_DRAFTS, f"{where}: {key}"
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}/{i}")

    for topic in DOCUMENTS:
        walk(_schema(topic), topic)


def test_real_records_of_every_topic_validate_against_its_schema_file() -> None:
    records: dict[str, list[dict[str, Any]]] = {topic: [] for topic in CONTRACT_TOPICS}
    for event in generate(40, seed=7):
        records[INPUT_TOPICS[event.kind]].append(event.value)
    for s in SCENARIOS:
        for step in s.steps:
            records[INPUT_TOPICS[step.kind]].append(step.value)
    for change in _stage_changes():
        records[STAGE_CHANGES].append(stage_change_dict(change, WHEN))
        records[LEAD_STAGES].append(lead_stage_dict(change))
        records[SHADOW_STAGE_CHANGES].append(orjson.loads(encode_shadow_change(change, WHEN)))
    records[SLA] = [sla_event_dict(e, WHEN) for e in _sla_events()]
    records[DEAD_LETTER].extend(_dead_letters())
    records[ALERTS_DEAD_LETTER].extend(_alert_dead_letters())

    for topic, values in records.items():
        assert values, f"no real record of {topic}"
        for value in values:
            _check(value, topic)
    stages = {r["stage"] for r in records[LEAD_STAGES]}
    assert stages == {"sql", "sqo", "disqualified"}
    assert all(r["change_id"].endswith(":shadow") for r in records[SHADOW_STAGE_CHANGES])
    encodings = {(r.get("key_encoding"), r.get("value_encoding")) for r in records[DEAD_LETTER]}
    assert (None, "base64") in encodings
    assert ("base64", None) in encodings
    assert any(r.get("value_truncated") for r in records[DEAD_LETTER])
    assert {(r["stage"], r["kind"]) for r in records[SLA]} >= {
        ("sql", "warning"),
        ("sql", "breached"),
        ("sqo", "breached"),
    }
    hours = [r["policy"]["business_hours"] for r in records[SLA]]
    assert None in hours
    assert any(h is not None for h in hours)


def test_records_outside_the_contract_are_rejected_by_the_schema_files() -> None:
    change = stage_change_dict(_stage_changes()[0], WHEN)
    for topic in (STAGE_CHANGES, SHADOW_STAGE_CHANGES):
        for broken in (
            {k: v for k, v in change.items() if k != "ruleset"},
            change | {"sequence": 0},
            change | {"to_stage": "won"},
        ):
            with pytest.raises(jsonschema.ValidationError):
                _check(broken, topic)
    sla = sla_event_dict(_sla_events()[0], WHEN)
    for broken in (
        {k: v for k, v in sla.items() if k != "due_at"},
        sla | {"kind": "missed"},
        sla | {"stage": "lead"},
        sla | {"policy": {"within": "4h"}},
        sla | {"policy": sla["policy"] | {"business_hours": {"days": []}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            _check(broken, SLA)


def test_message_keys_and_stage_change_headers_match_the_asyncapi_document() -> None:
    document = _asyncapi()
    messages = {
        channel["address"]: _resolve(document, next(iter(channel["messages"].values())))
        for channel in document["channels"].values()
    }

    def key_schema(topic: str) -> dict[str, Any]:
        return _resolve(document, messages[topic]["bindings"]["kafka"]["key"])

    for event in generate(20, seed=3):
        Draft7Validator(key_schema(INPUT_TOPICS[event.kind])).validate(event.key)
    change = _stage_changes()[0]
    sent = outgoing_change(change.lead_id.encode(), change, source="leadq/leadq")
    for topic in (STAGE_CHANGES, LEAD_STAGES, SHADOW_STAGE_CHANGES, ALERTS_DEAD_LETTER):
        Draft7Validator(key_schema(topic)).validate(sent.key.decode())
    Draft7Validator(key_schema(DEAD_LETTER)).validate(None)

    headers_schema = _resolve(document, messages[STAGE_CHANGES]["headers"])
    headers = {name: value.decode() for name, value in sent.headers}
    Draft7Validator(headers_schema, format_checker=Draft7Validator.FORMAT_CHECKER).validate(headers)
    assert set(headers) == set(headers_schema["required"]) == set(headers_schema["properties"])
    assert headers["ce_id"] == change.change_id
    assert headers["ce_subject"] == change.lead_id
    assert headers["ce_type"] == STAGE_CHANGED
    for topic in (LEAD_STAGES, DEAD_LETTER, SHADOW_STAGE_CHANGES, ALERTS_DEAD_LETTER):
        assert "headers" not in messages[topic], topic

    sla_headers_schema = _resolve(document, messages[SLA]["headers"])
    checker = Draft7Validator(sla_headers_schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    types: set[str] = set()
    for sla_event in _sla_events():
        sent_sla = outgoing_sla(sla_event.lead_id.encode(), sla_event, source="leadq/leadq")
        Draft7Validator(key_schema(SLA)).validate(sent_sla.key.decode())
        headers = {name: value.decode() for name, value in sent_sla.headers}
        checker.validate(headers)
        assert set(headers) == set(sla_headers_schema["required"])
        assert set(headers) == set(sla_headers_schema["properties"])
        assert headers["ce_id"] == sla_event.sla_event_id
        assert headers["ce_subject"] == sla_event.lead_id
        assert datetime.fromisoformat(headers["ce_time"]) == sla_event.occurred_at
        types.add(headers["ce_type"])
    assert types == {SLA_WARNING, SLA_BREACHED}
