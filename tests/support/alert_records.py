"""Records as the worker writes them, signing secrets, an independent signature check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

import orjson


def new_secret() -> str:
    """A Standard Webhooks signing secret."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signature_ok(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """The Standard Webhooks 1.0 check, written from the specification (hmac, hashlib):
    `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), key = the secret's
    base64 part decoded; the header may list several signatures separated by spaces."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    return any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split())


def stage_change(
    lead: str, sequence: int, before: str, after: str, ruleset: str = "default"
) -> dict[str, Any]:
    """A leads.stage-changes record as the worker writes it."""
    return {
        "change_id": f"{lead}:{sequence}",
        "lead_id": lead,
        "sequence": sequence,
        "from_stage": before,
        "to_stage": after,
        "occurred_at": f"2026-03-02T10:{sequence:02d}:00+00:00",
        "emitted_at": "2026-03-02T10:30:00.123456+00:00",
        "trigger_event_id": f"{lead}-e{sequence}",
        "reasons": [
            {"rule": "demo_request", "description": "Asked for a demo", "points": 30.0},
            {"rule": "engagement_score", "description": "Engagement score reached 40"},
        ],
        "evidence": [f"{lead}-e{sequence}"],
        "disqualification_reason": "no_budget" if after == "disqualified" else None,
        "scores": {"engagement": 42.0, "fit": 10.0},
        "ruleset": {"name": ruleset, "version": "3"},
    }


def sla_event(lead: str, sequence: int, kind: str = "warning") -> dict[str, Any]:
    """A leads.sla record as the worker writes it."""
    return {
        "sla_event_id": f"{lead}:{sequence}:{kind}",
        "lead_id": lead,
        "kind": kind,
        "stage": "sql",
        "stage_since": "2026-03-02T10:01:00+00:00",
        "due_at": "2026-03-02T14:01:00+00:00",
        "policy": {"within": "4h", "business_hours": None},
        "emitted_at": "2026-03-02T13:01:00.5+00:00",
    }


def record(topic: str, value: dict[str, Any]) -> tuple[str, bytes, bytes]:
    """(topic, key, value) for tests.support.kafka.produce."""
    return topic, str(value["lead_id"]).encode(), orjson.dumps(value)
