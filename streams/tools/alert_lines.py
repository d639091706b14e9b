"""One line per delivered alert, as `leadq demo` prints them (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

SLA_WORDS = {"lead.sla_warning": "SLA warning ", "lead.sla_breached": "SLA breached"}


def clock_time(value: Any, tz: tzinfo | None = None) -> str:
    """An RFC 3339 time as HH:MM:SS in `tz` (None: this machine's zone); the text itself
    when it is not a time."""
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return at.astimezone(tz).strftime("%H:%M:%S")


def _check(verified: bool, after_s: float | None, what: str) -> str:
    words = ["signature ok" if verified else "signature INVALID"]
    if after_s is not None:
        words.append(f"{after_s:.1f} s after {what}")
    return f"({', '.join(words)})"


def alert_line(
    body: Mapping[str, Any], verified: bool, after_s: float | None = None, tz: tzinfo | None = None
) -> str:
    """The line of one webhook body: a stage change with the seconds since its triggering
    event was sent (`after_s`), or an SLA warning or breach (with, for a breach, the
    seconds since it came due).

    `alert  lead-0042  lead → sql  (signature ok, 0.3 s after the event)`
    `SLA breached  lead-0042  sql since 12:00:01, due 12:00:21  (signature ok)`
    """
    data = body.get("data")
    data = data if isinstance(data, Mapping) else {}
    lead = data.get("lead_id", "?")
    kind = str(body.get("type"))
    if kind in SLA_WORDS:
        since = clock_time(data.get("stage_since"), tz)
        due = clock_time(data.get("due_at"), tz)
        return (
            f"{SLA_WORDS[kind]}  {lead}  {data.get('stage')} since {since}, due {due}"
            f"  {_check(verified, after_s, 'it came due')}"
        )
    change = f"{data.get('from_stage')} → {data.get('to_stage')}"
    return f"alert  {lead}  {change}  {_check(verified, after_s, 'the event')}"
