"""A ruleset with windows, decay, demotion, caps, lists and cool-down, and event helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streams.core.events import LeadEvent
from streams.core.qualify import Qualifier
from streams.core.ruleset import parse_ruleset

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

TIMED_RULES = """
name = "timed"
version = "t1"
allowed_lateness = "24h"
late_events = "dead_letter"
requalify = true
cooldown = "30d"

[lists]
free_mail = ["gmail.com", "yahoo.com"]
competitors = ["rival.example"]

[engagement]
half_life = "7d"

[demotion]
below = 20
description = "Went cold"

[signals.pricing_view]
description = "Viewed the pricing page"
points = 5
match = [{ type = "page_view", category = "pricing" }]

[signals.webinar]
description = "Attended a webinar"
points = 25
match = [{ type = "webinar_attended" }]

[signals.conversation]
description = "Talked to sales"
points = 10
match = [{ type = "meeting_held" }]

[signals.demo]
description = "Asked for a demo"
points = 30
match = [{ type = "form_submit", form = "demo_request" }]

[signals.hard_bounce]
description = "Email hard-bounced"
match = [{ type = "email_bounced", bounce = "hard" }]

[signals.opted_out]
description = "Unsubscribed"
match = [{ type = "email_unsubscribed" }, { type = "email_spam_complaint" }]

[signals.no_budget]
description = "No budget"
points = -15
match = [{ type = "call_completed", disposition = "no_budget" }]

[[fit]]
rule = "free_mail"
description = "Personal email address"
points = -10
when = { profile = "email_domain", in_list = "free_mail" }

[[cap]]
score = "engagement"
max = 30
description = "Free-mail addresses never count as highly engaged"
when = { profile = "email_domain", in_list = "free_mail" }

[stages.sql]
description = "Interested"
criteria = { any = [
  { signal = "pricing_view", min_count = 3, within = "7d" },
  { score = "engagement", gte = 40 },
  { signal = "demo" },
] }

[stages.sqo]
description = "Two conversations within 30 days"
criteria = { signal = "conversation", min_count = 2, within = "30d" }

[[disqualify]]
reason = "unreachable"
description = "Disqualified: email hard-bounced"
when = { signal = "hard_bounce" }

[[disqualify]]
reason = "opted_out"
description = "Disqualified: opted out"
when = { signal = "opted_out" }

[[disqualify]]
reason = "competitor"
description = "Disqualified: works for a competitor"
when = { profile = "email_domain", in_list = "competitors" }
"""


def timed(*replacements: tuple[str, str]) -> Qualifier:
    """The timed ruleset, after (old, new) text replacements."""
    text = TIMED_RULES
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return Qualifier(parse_ruleset(text, "timed"))


def at(event_id: str, type_: str, hours: float, lead: str | None = "L1", **props: Any) -> LeadEvent:
    """An event `hours` after T0."""
    return LeadEvent(
        event_id=event_id,
        type=type_,
        occurred_at=T0 + timedelta(hours=hours),
        lead_id=lead,
        properties=props,
    )


def pricing(event_id: str, hours: float) -> LeadEvent:
    return at(event_id, "page_view", hours, url="/pricing", category="pricing")
