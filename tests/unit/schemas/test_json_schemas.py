"""The shipped JSON Schema files match the models and validate what the models accept."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import orjson
import pytest

from schemas.decode import Rejection, decode
from schemas.export import JSON_DIR, schema_documents
from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.tools.scenarios import SCENARIOS, lead_events
from streams.worker.codec import encode_dead_letter, encode_stage_change


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
