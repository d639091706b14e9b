"""Each simulated lead's journey: first touch, path to its outcome, and CRM profile updates."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, Final

from streams.tools.simulate.catalog import (
    ANON_BROWSE,
    CITIES,
    COUNTRIES,
    INDUSTRIES,
    SENIORITY,
    TITLES,
    Weighted,
)
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.lead import DAY, HOUR, MINUTE, SimLead

# Journey outcomes under the `default` preset, with their shares of all leads.
_OUTCOMES: Final = Weighted(
    {"nurture": 66.5, "student": 2, "nurture_dq": 4, "sql": 12.5, "sql_dq": 3.5, "sqo": 11.5}
)

_HAND_RAISE_WEIGHTS: Final = {
    "ebook": 26,
    "whitepaper": 6,
    "case_study": 4,
    "template": 4,
    "contact": 12,
    "pricing_request": 8,
    "trial": 12,
    "webinar": 14,
    "engaged": 8,
}
_HAND_RAISE: Final = Weighted(_HAND_RAISE_WEIGHTS)
_SQL_HAND_RAISE: Final = Weighted({**_HAND_RAISE_WEIGHTS, "demo_request": 8})


def _journey(lead: SimLead, outcome: str) -> None:
    rng = lead.rng
    if outcome == "nurture":
        lead.nurture(1, 6)
    elif outcome == "student":
        # A student reading up: downloads an e-book, but the `default` preset excludes students.
        lead.nurture(0, 2)
        lead.pause()
        lead.download("ebook")
        if rng.random() < 0.5:
            lead.newsletter_signup()
    elif outcome == "nurture_dq":
        lead.nurture(1, 4)
        roll = rng.random()
        if roll < 0.45:
            lead.opt_out()
        elif roll < 0.85:
            lead.disqualifying_call()
        else:
            lead.pause()
            lead.emit("email", "email_sent")
            lead.tick(3600, 48 * 3600)
            lead.emit("email", "email_replied", {"intent": "not_interested"})
    elif outcome == "sql":
        lead.nurture(0, 3)
        how = _SQL_HAND_RAISE(rng)
        lead.hand_raise(how)
        # Follow-up that does not make an opportunity: no conversation after a demo request.
        lead.nurture(0, 2)
        if how == "demo_request":
            for _ in range(rng.randint(1, 3)):
                lead.pause()
                lead.unreached_call()
        elif rng.random() < 0.4:
            lead.pause()
            lead.call("connected", rng.randint(60, 900), "interested", ("implementation",))
    elif outcome == "sql_dq":
        lead.nurture(0, 2)
        lead.hand_raise(_HAND_RAISE(rng))
        lead.nurture(0, 1)
        if rng.random() < 0.75:
            lead.disqualifying_call()
        else:
            lead.opt_out()
    else:
        _opportunity(lead)


def _opportunity(lead: SimLead) -> None:
    """An SQL that sales turns into an opportunity (SQO under `default`)."""
    rng = lead.rng
    lead.nurture(0, 2)
    roll = rng.random()
    if roll < 0.45:
        # Demo request form, then a rep reaches them and books the demo.
        if rng.random() < 0.5:
            lead.hand_raise(rng.choice(("ebook", "whitepaper", "webinar")))
        lead.hand_raise("demo_request")
        for _ in range(rng.randint(0, 2)):
            lead.pause()
            lead.unreached_call()
        lead.pause()
        topics = ("demo", *rng.sample(("pricing", "timeline", "implementation"), 1))
        lead.call("connected", rng.randint(180, 1500), "demo_scheduled", topics)
        if rng.random() < 0.6:
            lead.pause()
            lead.meeting("demo")
    elif roll < 0.65:
        # Demo request form; the lead books the demo straight from the calendar link.
        lead.hand_raise("demo_request")
        lead.pause()
        lead.meeting("demo")
    elif roll < 0.85:
        # Any hand-raiser, then a discovery call in which the rep accepts the opportunity.
        lead.hand_raise(rng.choice(("contact", "trial", "ebook", "engaged")))
        lead.pause()
        if rng.random() < 0.4:
            lead.meeting("discovery")
            lead.pause()
        topics = ("budget", "timeline", "proposal")
        lead.call("connected", rng.randint(600, 2400), "opportunity_accepted", topics)
    else:
        # Content first; an SDR call books a demo (the call itself is the demo request).
        lead.hand_raise(rng.choice(("ebook", "case_study", "webinar")))
        lead.pause()
        lead.call("connected", rng.randint(240, 1200), "demo_scheduled", ("demo",))
        lead.pause()
        lead.meeting("demo")
    if rng.random() < 0.3:
        lead.pause()
        lead.call("connected", rng.randint(300, 1800), "proposal_requested", ("proposal",))


def profile_fields(lead: SimLead, student: bool) -> dict[str, Any]:
    """A CRM profile of the lead: a student's, or a working professional's."""
    rng = lead.rng
    seniority = "student" if student else SENIORITY(rng)
    fields: dict[str, Any] = {"seniority": seniority}
    if rng.random() < 0.85:
        fields["job_title"] = rng.choice(TITLES[seniority])
    if student:
        city = rng.choice(CITIES)
        fields["company"] = f"University of {city}"
        fields["industry"] = "education"
        fields["email_domain"] = f"uni-{city.lower()}.example"
    else:
        if rng.random() < 0.9:
            fields["company"] = lead.company[0]
        if rng.random() < 0.8:
            low, high = rng.choice(((1, 9), (10, 49), (50, 249), (250, 999), (1000, 20000)))
            fields["company_size"] = rng.randint(low, high)
        if rng.random() < 0.8:
            fields["industry"] = rng.choice(INDUSTRIES)
        if rng.random() < 0.8:
            fields["email_domain"] = lead.company[1]
    if rng.random() < 0.85:
        fields["country"] = COUNTRIES(rng)
    return fields


def start_lead(index: int, seed: int, base: datetime, prefix: str) -> tuple[SimLead, str]:
    """Lead i of a seed and the journey it will take (the first draws of its own RNG)."""
    rng = random.Random(f"{seed}/{index}")
    lead = SimLead(rng, f"{prefix}-{index:06d}", base)
    return lead, _OUTCOMES(rng)


def lead_events(
    index: int, seed: int, base: datetime, prefix: str
) -> list[tuple[int, str, SimEvent]]:
    """Lead i's whole journey: its events, each with its event time and event id to sort by."""
    lead, outcome = start_lead(index, seed, base, prefix)
    rng = lead.rng

    # First touch: an anonymous visitor who identifies later, or a known contact.
    if rng.random() < 0.15:
        lead.anonymous_id = f"v-{rng.getrandbits(64):016x}"
        lead.visit(ANON_BROWSE, 1, 4, anonymous=True)
        if rng.random() < 0.4:
            lead.pause()
            lead.visit(ANON_BROWSE, 1, 3, anonymous=True)
        lead.pause()
        props = {"email": lead.email_address()} if rng.random() < 0.7 else {}
        lead.emit("website", "identify", props)
        lead.tick(5, 120)
    elif rng.random() < 0.5:
        lead.campaign()
    else:
        lead.visit()

    student = outcome == "student"
    if student:
        lead.tick(60, 3600)
        lead.profile(lead.t, profile_fields(lead, student=True))
        lead.tick(5, 60)

    _journey(lead, outcome)

    if outcome not in ("nurture_dq", "sql_dq", "student") and rng.random() < 0.3:
        lead.nurture(1, 2)  # a little activity after the last milestone
    if not student and rng.random() < 0.6:
        # CRM enrichment lands at some point of the journey; sometimes an update later.
        span = lead.t - lead.first_t
        lead.profile(
            lead.first_t + rng.randint(MINUTE, max(MINUTE, span // 2) + MINUTE),
            profile_fields(lead, student=False),
        )
        if rng.random() < 0.2:
            update = profile_fields(lead, student=False)
            keep: dict[str, Any] = {
                k: update[k] for k in ("seniority", "job_title", "company_size") if k in update
            }
            lead.profile(lead.t + rng.randint(HOUR, 7 * DAY), keep)
    return lead.events
