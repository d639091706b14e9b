"""The Slack message: a sales rep sees the lead, the stages, why and which rules at a
glance; SLA warnings and breaches say the stage and when it is due."""

from __future__ import annotations

from typing import Any

import orjson

from streams.alerts.routing import Source, read_event
from streams.alerts.slack import slack_body, slack_message
from tests.support.alert_records import sla_event, stage_change


def message(value: dict[str, Any]) -> dict[str, Any]:
    source: Source = "sla" if "sla_event_id" in value else "stage_changes"
    return slack_message(read_event(source, orjson.dumps(value)))


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every text of the blocks, one per line."""
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", []) + block.get("elements", [])]
    return "\n".join(out)


def test_a_stage_change_at_a_glance() -> None:
    shown = message(stage_change("ann", 2, "sql", "sqo"))
    assert shown["text"] == "Lead ann: SQL → SQO (Asked for a demo, Engagement score reached 40)"
    header = shown["blocks"][0]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": ":trophy: Lead ann: SQL → SQO"},
    }
    body = texts(shown["blocks"])
    assert "• Asked for a demo (+30 points)" in body
    assert "• Engagement score reached 40\n" in body + "\n"
    assert "Ruleset *default* 3" in body
    assert "<!date^1772445720^{date_short_pretty} at {time}|2026-03-02 10:02 UTC>" in body
    assert "change `ann:2`" in body
    assert shown["blocks"][-1]["type"] == "context"


def test_a_disqualification_says_why() -> None:
    shown = message(stage_change("bob", 1, "lead", "disqualified"))
    assert shown["blocks"][0]["text"]["text"] == ":no_entry_sign: Lead bob: Lead → Disqualified"
    assert "*Disqualified:* no_budget" in texts(shown["blocks"])


def test_user_text_is_escaped_and_long_lists_are_cut() -> None:
    change = stage_change("<!channel>", 1, "lead", "sql")
    change["reasons"] = [
        {"rule": f"r{n}", "description": f"Visited <pricing> & more {n}"} for n in range(14)
    ]
    shown = message(change)
    body = texts(shown["blocks"][1:])
    assert "<!channel>" not in body
    assert "&lt;pricing&gt; &amp; more 0" in body
    assert "more 9" in body
    assert "more 10" not in body
    assert "• … and 4 more" in body
    assert len(shown["blocks"]) <= 50


def test_an_sla_warning_and_a_breach() -> None:
    warning = message(sla_event("ann", 1, "warning"))
    assert warning["text"] == "SLA warning: lead ann (SQL) is due 2026-03-02 14:01 UTC"
    assert warning["blocks"][0]["text"]["text"] == ":warning: SLA warning: lead ann"
    body = texts(warning["blocks"])
    assert "*Stage*\nSQL" in body
    assert "*Due*\n<!date^" in body
    assert "*Policy*\nworked within 4h" in body
    assert "event `ann:1:warning`" in body
    breach = message(
        {
            **sla_event("ann", 1, "breached"),
            "policy": {
                "within": "4h",
                "business_hours": {"days": ["mon"], "start": "09:00", "end": "17:00"},
            },
        }
    )
    assert breach["text"].startswith("SLA breached: lead ann (SQL) was due ")
    assert breach["blocks"][0]["text"]["text"] == ":rotating_light: SLA breached: lead ann"
    assert "worked within 4h of business hours" in texts(breach["blocks"])


def test_the_body_is_json_with_text_and_blocks() -> None:
    raw = slack_body(read_event("stage_changes", orjson.dumps(stage_change("a", 1, "lead", "sql"))))
    assert set(orjson.loads(raw)) == {"text", "blocks"}
