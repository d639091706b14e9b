"""The Slack message of an event: Block Kit blocks and a text fallback (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import orjson

from streams.alerts.routing import AlertEvent

STAGE_NAMES: Final = {"lead": "Lead", "sql": "SQL", "sqo": "SQO", "disqualified": "Disqualified"}
STAGE_EMOJI: Final = {
    "sql": ":dart:",
    "sqo": ":trophy:",
    "disqualified": ":no_entry_sign:",
    "lead": ":arrow_down:",
}
MAX_REASONS: Final = 10
HEADER_CHARS: Final = 150  # Block Kit's limit for a header's text
SECTION_CHARS: Final = 3000  # and for a section's text


def stage_name(stage: Any) -> str:
    return STAGE_NAMES.get(str(stage), str(stage))


def escape(text: Any) -> str:
    """Text as Slack's mrkdwn shows it literally (&, < and > are control characters)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _time(value: Any) -> datetime | None:
    """An RFC 3339 time with an offset, or None."""
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def when(value: Any) -> str:
    """An RFC 3339 time as Slack shows it in each reader's own time zone (UTC in clients
    that cannot); the text itself when it is not a time."""
    at = _time(value)
    if at is None:
        return escape(value)
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{_utc(at)}>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, HEADER_CHARS)}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_CHARS)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, SECTION_CHARS)}]}


def _reason_line(reason: Any) -> str:
    if not isinstance(reason, dict):
        return f"• {escape(reason)}"
    words = escape(reason.get("description") or reason.get("rule") or "")
    points = reason.get("points")
    if isinstance(points, int | float) and not isinstance(points, bool):
        words += f" ({points:+g} points)"
    return f"• {words}"


def stage_change_message(event: AlertEvent) -> dict[str, Any]:
    """A stage change: who, from → to, why, which ruleset."""
    data = event.data
    lead = str(data.get("lead_id", event.lead_id))
    before, after = stage_name(data.get("from_stage")), stage_name(data.get("to_stage"))
    emoji = STAGE_EMOJI.get(str(data.get("to_stage")), ":bell:")
    reasons = data.get("reasons") if isinstance(data.get("reasons"), list) else []
    assert isinstance(reasons, list)
    why = [_reason_line(r) for r in reasons[:MAX_REASONS]]
    if len(reasons) > MAX_REASONS:
        why.append(f"• … and {len(reasons) - MAX_REASONS} more")
    ruleset = data.get("ruleset") if isinstance(data.get("ruleset"), dict) else {}
    assert isinstance(ruleset, dict)
    short_reasons = ", ".join(
        str(r.get("description") or r.get("rule")) for r in reasons[:3] if isinstance(r, dict)
    )
    text = f"Lead {lead}: {before} → {after}" + (f" ({short_reasons})" if short_reasons else "")
    blocks = [
        _header(f"{emoji} Lead {lead}: {before} → {after}"),
        _section("*Why*\n" + ("\n".join(why) if why else "• no reasons given")),
    ]
    if data.get("disqualification_reason"):
        blocks.append(_section(f"*Disqualified:* {escape(data['disqualification_reason'])}"))
    context = [
        f"Ruleset *{escape(ruleset.get('name', '?'))}* {escape(ruleset.get('version', ''))}",
        f"at {when(data.get('occurred_at'))}",
        f"change `{escape(event.webhook_id)}`",
    ]
    blocks.append(_context(" · ".join(context)))
    return {"text": _cut(text, SECTION_CHARS), "blocks": blocks}


def sla_message(event: AlertEvent) -> dict[str, Any]:
    """An SLA warning or breach: which lead, which stage, since when, due when."""
    data = event.data
    lead = str(data.get("lead_id", event.lead_id))
    stage = stage_name(data.get("stage"))
    breached = event.type == "lead.sla_breached"
    what, emoji = ("SLA breached", ":rotating_light:") if breached else ("SLA warning", ":warning:")
    due = data.get("due_at")
    policy = data.get("policy") if isinstance(data.get("policy"), dict) else {}
    assert isinstance(policy, dict)
    within = f"worked within {escape(policy.get('within', '?'))}"
    if policy.get("business_hours"):
        within += " of business hours"
    verb = "was due" if breached else "is due"
    text = f"{what}: lead {lead} ({stage}) {verb} {_plain_time(due)}"
    fields = [
        f"*Stage*\n{escape(stage)}",
        f"*In stage since*\n{when(data.get('stage_since'))}",
        f"*Due*\n{when(due)}",
        f"*Policy*\n{within}",
    ]
    blocks = [
        _header(f"{emoji} {what}: lead {lead}"),
        _section(f"Lead *{escape(lead)}* in *{escape(stage)}* {verb} {when(due)}."),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        _context(f"event `{escape(event.webhook_id)}`"),
    ]
    return {"text": _cut(text, SECTION_CHARS), "blocks": blocks}


def _plain_time(value: Any) -> str:
    at = _time(value)
    return _utc(at) if at is not None else str(value)


def slack_message(event: AlertEvent) -> dict[str, Any]:
    """The Block Kit message for any event."""
    return sla_message(event) if event.is_sla else stage_change_message(event)


def slack_body(event: AlertEvent) -> bytes:
    """The JSON body posted to a Slack incoming webhook."""
    return orjson.dumps(slack_message(event))
