"""Write the JSON Schema files in schemas/json from the typed models (`make schemas`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas.events import CallEvent, EmailEvent, ProfileRecord, WebsiteEvent
from schemas.outputs import (
    AlertDeadLetter,
    DeadLetter,
    LeadStage,
    ShadowStageChange,
    SlaEvent,
    StageChange,
)

JSON_DIR = Path(__file__).parent / "json"

DOCUMENTS: dict[str, Any] = {
    "leads.website": WebsiteEvent,
    "leads.email": EmailEvent,
    "leads.call": CallEvent,
    "leads.profile": ProfileRecord,
    "leads.stage-changes": StageChange,
    "leads.lead-stages": LeadStage,
    "leads.sla": SlaEvent,
    "leads.dead-letter": DeadLetter,
    "leads.shadow-stage-changes": ShadowStageChange,
    "leads.alerts-dead-letter": AlertDeadLetter,
}


def schema_documents() -> dict[str, str]:
    """File name -> JSON Schema text, for every topic of the contract."""
    out = {}
    for topic, model in DOCUMENTS.items():
        schema = TypeAdapter(model).json_schema(mode="validation")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://leadq.dev/schemas/v1/{topic}.schema.json",
            "title": f"{topic} (leadq contract v1)",
            **schema,
        }
        out[f"{topic}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main() -> None:
    """Regenerate the files."""
    JSON_DIR.mkdir(exist_ok=True)
    for name, text in schema_documents().items():
        (JSON_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {JSON_DIR / name}")


if __name__ == "__main__":
    main()
