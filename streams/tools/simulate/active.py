"""One very active lead: a long stream of the simulator's events (website, email, call and
profile) for a single lead, in event-time order."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Final

from streams.tools.simulate.catalog import BROWSE, WEBINARS, Weighted
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.journeys import profile_fields
from streams.tools.simulate.lead import MINUTE, SECOND, SimLead
from streams.tools.simulate.traffic import DEFAULT_START

ACTIVE_LEAD_ID: Final = "active-000001"
# Mean pause between the lead's sessions, and how much faster than the simulator's
# leads it acts within one: a few events every few minutes, around the clock (about
# 1,000 events a day, so the event ids kept for deduplication reach their cap).
MEAN_GAP_MS: Final = 2 * MINUTE
TEMPO: Final = 20
# What each session is. Nothing disqualifies the lead: it stays in play, and nothing
# starts a new epoch that would let the core drop its old hits.
_SESSIONS: Final = Weighted(
    {
        "visit": 40,
        "campaign": 25,
        "newsletter": 2,
        "cold_call": 8,
        "call": 5,
        "meeting": 3,
        "download": 5,
        "form": 4,
        "webinar": 3,
        "reply": 3,
        "profile": 2,
    }
)
_FORMS: Final = ("contact", "demo_request", "pricing_request", "trial")
_ASSET_TYPES: Final = ("ebook", "whitepaper", "case_study", "template")


def active_lead(
    count: int,
    seed: int = 1,
    lead_id: str = ACTIVE_LEAD_ID,
    start: datetime | None = None,
    mean_gap_ms: int = MEAN_GAP_MS,
) -> list[SimEvent]:
    """`count` events of one lead, each with its own event id and a later event time than
    the one before. Deterministic for the same arguments."""
    if count < 0:
        raise ValueError("count must be >= 0")
    base = DEFAULT_START if start is None else start
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    rng = random.Random(f"{seed}/{lead_id}")
    lead = _BusyLead(rng, lead_id, base)
    lead.t = 0
    lead.last_t = -SECOND
    while len(lead.events) < count:
        lead.t += max(SECOND, int(rng.expovariate(1 / mean_gap_ms)))
        _session(lead, _SESSIONS(rng))
    return [event for _, _, event in lead.events[:count]]


class _BusyLead(SimLead):
    """A lead whose steps within a session follow each other TEMPO times as fast as the
    simulator's (a reply within minutes, not hours)."""

    def tick(self, low_s: float, high_s: float) -> None:
        super().tick(low_s / TEMPO, high_s / TEMPO)


def _session(lead: SimLead, what: str) -> None:
    rng = lead.rng
    if what == "visit":
        lead.visit(BROWSE, 1, 5)
    elif what == "campaign":
        lead.campaign()
    elif what == "newsletter":
        lead.newsletter = False  # a very active lead signs up again after unsubscribing
        lead.newsletter_signup()
    elif what == "cold_call":
        lead.cold_call()
    elif what == "call":
        disposition = rng.choice(("interested", "demo_scheduled", "proposal_requested"))
        lead.call("connected", rng.randint(120, 1800), disposition, ("pricing",))
    elif what == "meeting":
        lead.meeting(rng.choice(("demo", "discovery")))
    elif what == "download":
        lead.download(rng.choice(_ASSET_TYPES))
    elif what == "form":
        lead.form(rng.choice(_FORMS))
    elif what == "webinar":
        webinar = rng.choice(WEBINARS)
        lead.campaign(open_p=1.0, click_p=0.0)
        lead.emit("website", "webinar_registration", {"webinar": webinar})
        lead.tick(600, 3600)
        lead.emit("website", "webinar_attended", {"webinar": webinar, "minutes": 45})
    elif what == "reply":
        lead.emit("email", "email_sent")
        lead.tick(600, 3600)
        lead.emit("email", "email_replied", {"intent": rng.choice(("pricing", "positive"))})
    else:
        # A CRM update, dated like any other event: after the one before.
        lead.t = max(lead.t, lead.last_t + SECOND)
        lead.last_t = lead.t
        lead.profile(lead.t, profile_fields(lead, student=False))
