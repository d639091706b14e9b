"""Realistic, reproducible mixed lead traffic for the input topics, and a paced producer."""

from __future__ import annotations

import asyncio
import bisect
import csv
import gc
import itertools
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import orjson

from streams.settings import Settings
from streams.worker.kafka_clients import kafka_client_kwargs

Kind = Literal["website", "email", "call", "profile"]


class _Weighted:
    """A fixed weighted choice among names (faster than random.choices for repeated use)."""

    __slots__ = ("_cum", "_names", "_total")

    def __init__(self, weights: Mapping[str, float]) -> None:
        self._names = tuple(weights)
        self._cum = tuple(itertools.accumulate(weights.values()))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> str:
        return self._names[bisect.bisect(self._cum, rng.random() * self._total)]


DEFAULT_START: Final = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ARRIVAL_WINDOW_MS: Final = 21 * 24 * 3600 * 1000  # leads arrive over three weeks
UNKEYED_SHARE: Final = 0.10
_SOURCES: Final = {"website": "web-tracker", "email": "marketing-automation", "call": "dialer"}
SITE: Final = "https://www.example.com"

_SECOND: Final = 1000
_MINUTE: Final = 60 * _SECOND
_HOUR: Final = 60 * _MINUTE
_DAY: Final = 24 * _HOUR

# Journey outcomes under the `default` preset, with their shares of all leads.
_OUTCOMES: Final = _Weighted(
    {"nurture": 66.5, "student": 2, "nurture_dq": 4, "sql": 12.5, "sql_dq": 3.5, "sqo": 11.5}
)

_BROWSE: Final = _Weighted(
    {"blog": 36, "docs": 20, "product": 24, "pricing": 7, "careers": 5, "other": 8}
)
_ANON_BROWSE: Final = _Weighted({"blog": 50, "docs": 20, "product": 25, "other": 5})
_CONTENT_BROWSE: Final = _Weighted({"blog": 3, "product": 2})
_FORM_BROWSE: Final = _Weighted({"product": 3, "pricing": 2})
_CONTACT_BROWSE: Final = _Weighted({"product": 2, "other": 1})
_SLUGS: Final = {
    "blog": ("lead-scoring-101", "mql-vs-sql", "sales-handoff", "funnel-metrics", "intent-data"),
    "docs": ("getting-started", "api", "integrations/crm", "webhooks", "sso"),
    "product": ("", "features", "integrations", "security", "customers"),
    "pricing": ("", "enterprise", "compare"),
    "careers": ("", "engineering", "sales"),
    "other": ("about", "contact", "legal/privacy", "partners"),
}
_ASSETS: Final = {
    "ebook": ("The Lead Qualification Playbook", "B2B Funnel Benchmarks 2026"),
    "whitepaper": ("Real-time Scoring Architecture", "Data Quality in RevOps"),
    "case_study": ("How Northwind Doubled SQLs", "Contoso Cuts Response Time"),
    "template": ("Lead Scoring Spreadsheet", "SDR Call Script"),
}
_WEBINARS: Final = ("Scoring leads in real time", "From MQL to SQO", "RevOps office hours")
_SENIORITY: Final = _Weighted(
    {"c_level": 6, "vp": 8, "director": 16, "manager": 25, "individual": 38, "other": 7}
)
_TITLES: Final = {
    "c_level": ("CEO", "CTO", "CFO", "COO", "Founder"),
    "vp": ("VP Engineering", "VP Sales", "VP Marketing", "VP Operations"),
    "director": ("Director of IT", "Head of Operations", "Director of Marketing", "Head of Data"),
    "manager": ("Engineering Manager", "Marketing Manager", "IT Manager", "Product Manager"),
    "individual": ("Software Engineer", "Data Analyst", "Marketing Specialist", "SDR"),
    "other": ("Consultant", "Freelancer", "Advisor"),
    "student": ("Student", "PhD Candidate", "MBA Student"),
}
_INDUSTRIES: Final = (
    "software",
    "financial_services",
    "healthcare",
    "manufacturing",
    "retail",
    "logistics",
    "media",
    "professional_services",
    "public_sector",
)
_COUNTRIES: Final = _Weighted({
    "US": 30, "GB": 10, "DE": 10, "FR": 6, "CA": 6, "IN": 6, "NL": 5, "AU": 4,
    "SE": 3, "ES": 3, "BR": 3, "JP": 3, "PL": 2, "CH": 2, "IE": 2, "SG": 2,
})  # fmt: skip
_COMPANY_A: Final = (
    "North", "Blue", "Bright", "Silver", "Nova", "Apex", "Cedar", "Iron",
    "Quantum", "Harbor", "Summit", "Pioneer", "Vertex", "Lumen", "Orbit", "Maple",
)  # fmt: skip
_COMPANY_B: Final = (
    "Labs", "Systems", "Logistics", "Health", "Analytics", "Works", "Dynamics",
    "Foods", "Energy", "Media", "Partners", "Retail", "Robotics", "Finance",
)  # fmt: skip
_CITIES: Final = ("Oakridge", "Lakeside", "Westfield", "Riverton", "Hillcrest")
_FIRST: Final = ("alex", "sam", "maria", "li", "noah", "emma", "omar", "sofia", "jan", "priya")
_LAST: Final = ("smith", "garcia", "chen", "mueller", "kowalski", "silva", "khan", "dubois")
_DQ_CALL: Final = _Weighted(
    {"no_budget": 30, "bad_timing": 25, "not_a_fit": 25, "not_interested": 20}
)
_DQ_TOPICS: Final = {
    "no_budget": ("budget", "pricing"),
    "bad_timing": ("timeline",),
    "not_a_fit": ("implementation", "competitor"),
    "not_interested": ("competitor",),
}


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One message for an input topic: topic kind, key (None = unkeyed) and JSON value."""

    kind: Kind
    key: str | None
    value: dict[str, Any]


class _Lead:
    """Builds one lead's journey on an event-time cursor (ms since the simulation start)."""

    def __init__(self, rng: random.Random, lead_id: str, base: datetime) -> None:
        self.rng = rng
        self.lead_id = lead_id
        self.base = base
        self.t = rng.randrange(ARRIVAL_WINDOW_MS)
        self.first_t = self.t
        self.last_t = self.t - _SECOND
        # Pace: the mean pause between sessions (hours for hot leads, days for slow ones).
        self.mean_pause = rng.choice((2, 6, 18, 36, 72, 120)) * _HOUR
        self.anonymous_id: str | None = None
        self.n = 0
        self.events: list[tuple[int, str, SimEvent]] = []
        self.newsletter = False
        self.company = self._company()

    # -- time -------------------------------------------------------------------------------

    def tick(self, low_s: float, high_s: float) -> None:
        """Advance within a session (at least one second, so a lead's events never tie)."""
        self.t += max(_SECOND, int(self.rng.uniform(low_s, high_s) * _SECOND))

    def pause(self) -> None:
        """Advance to the lead's next session."""
        gap = self.rng.expovariate(1 / self.mean_pause)
        self.t += int(min(max(gap, 10 * _MINUTE), 7 * _DAY))

    def stamp(self, at: int) -> str:
        return (self.base + timedelta(milliseconds=at)).isoformat(timespec="milliseconds")

    # -- emitting ---------------------------------------------------------------------------

    def _add(self, at: int, kind: Kind, key: str | None, value: dict[str, Any]) -> None:
        self.events.append((at, value["event_id"], SimEvent(kind, key, value)))

    def _next_id(self) -> str:
        self.n += 1
        return f"{self.lead_id}-{self.n}"

    def emit(
        self,
        kind: Kind,
        etype: str,
        properties: dict[str, Any] | None = None,
        *,
        anonymous: bool = False,
    ) -> None:
        # A lead's own events never share a timestamp, so their order is unambiguous.
        self.t = max(self.t, self.last_t + _SECOND)
        self.last_t = self.t
        value: dict[str, Any] = {"event_id": self._next_id(), "type": etype}
        if anonymous:
            assert self.anonymous_id is not None
            value["anonymous_id"] = self.anonymous_id
            key: str | None = self.anonymous_id
        else:
            value["lead_id"] = self.lead_id
            key = self.lead_id
        if etype == "identify" and self.anonymous_id is not None:
            value["anonymous_id"] = self.anonymous_id
        value["occurred_at"] = self.stamp(self.t)
        value["source"] = _SOURCES[kind]
        if properties is not None:
            value["properties"] = properties
        if self.rng.random() < UNKEYED_SHARE:
            key = None
        self._add(self.t, kind, key, value)

    def profile(self, at: int, fields: dict[str, Any]) -> None:
        value: dict[str, Any] = {
            "event_id": self._next_id(),
            "lead_id": self.lead_id,
            "updated_at": self.stamp(at),
            "source": "crm",
            **fields,
        }
        self._add(at, "profile", self.lead_id, value)

    # -- building blocks ----------------------------------------------------------------

    def _company(self) -> tuple[str, str]:
        a, b = self.rng.choice(_COMPANY_A), self.rng.choice(_COMPANY_B)
        return f"{a} {b}", f"{a}{b}".lower() + ".example"

    def email_address(self) -> str:
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        return f"{first}.{last}@{self.company[1]}"

    def page_view(self, category: str, *, anonymous: bool = False) -> None:
        slug = self.rng.choice(_SLUGS[category])
        url = f"{SITE}/{category}/{slug}".rstrip("/")
        self.emit("website", "page_view", {"url": url, "category": category}, anonymous=anonymous)
        self.tick(15, 240)

    def visit(
        self, mix: _Weighted = _BROWSE, low: int = 1, high: int = 4, anonymous: bool = False
    ) -> None:
        for _ in range(self.rng.randint(low, high)):
            self.page_view(mix(self.rng), anonymous=anonymous)

    def campaign(self, open_p: float = 0.45, click_p: float = 0.35) -> None:
        """A marketing email: sent, maybe opened, maybe clicked through to the site."""
        self.emit("email", "email_sent")
        if self.rng.random() >= open_p:
            return
        self.tick(60, 8 * 3600)
        self.emit("email", "email_opened")
        if self.rng.random() >= click_p:
            return
        self.tick(5, 120)
        category = self.rng.choice(("blog", "product", "docs"))
        self.emit("email", "email_clicked", {"url": f"{SITE}/{category}?utm_source=email"})
        self.tick(2, 10)
        self.page_view(category)

    def newsletter_signup(self) -> None:
        if self.newsletter:
            return
        self.newsletter = True
        self.page_view("blog")
        self.emit("website", "newsletter_signup")
        self.tick(5, 60)

    def call(
        self,
        outcome: str,
        duration_s: int,
        disposition: str | None = None,
        topics: Sequence[str] = (),
        direction: str = "outbound",
    ) -> None:
        props: dict[str, Any] = {
            "direction": direction,
            "duration_s": duration_s,
            "outcome": outcome,
            "rep_id": f"rep-{self.rng.randint(1, 12):02d}",
        }
        if topics:
            props["topics"] = list(topics)
        if disposition is not None:
            props["disposition"] = disposition
        self.emit("call", "call_completed", props)
        self.tick(30, 600)

    def unreached_call(self) -> None:
        outcome = self.rng.choice(("no_answer", "no_answer", "voicemail", "busy"))
        duration = self.rng.randint(20, 45) if outcome == "voicemail" else 0
        self.call(outcome, duration)

    def cold_call(self) -> None:
        """An SDR's cold call that goes nowhere: unanswered, or a short connected call."""
        if self.rng.random() < 0.7:
            self.unreached_call()
        else:
            disposition = self.rng.choice((None, None, "wrong_contact"))
            self.call("connected", self.rng.randint(15, 100), disposition)

    def meeting(self, kind: str) -> None:
        props = {
            "kind": kind,
            "duration_s": self.rng.choice((1800, 2700, 3600)),
            "rep_id": f"rep-{self.rng.randint(1, 12):02d}",
        }
        self.emit("call", "meeting_held", props)
        self.tick(60, 600)

    def nurture_session(self) -> None:
        """A touch that never qualifies a lead (engagement stays under the SQL threshold)."""
        roll = self.rng.random()
        if roll < 0.45:
            self.visit()
        elif roll < 0.85:
            self.campaign()
        elif roll < 0.90:
            self.newsletter_signup()
        elif roll < 0.97:
            self.cold_call()
        else:
            self.emit("email", "email_sent")
            self.tick(600, 6 * 3600)
            if self.rng.random() < 0.5:
                self.emit("email", "email_replied", {"intent": "out_of_office"})
            else:
                self.emit("email", "email_bounced", {"bounce": "soft"})
            self.tick(5, 60)

    def nurture(self, low: int, high: int) -> None:
        for _ in range(self.rng.randint(low, high)):
            self.pause()
            self.nurture_session()

    # -- hand-raisers (each qualifies a lead as SQL under `default`) ----------------------

    def download(self, asset_type: str) -> None:
        self.visit(_CONTENT_BROWSE, 1, 2)
        asset = self.rng.choice(_ASSETS[asset_type])
        self.emit("website", "content_download", {"asset": asset, "asset_type": asset_type})
        self.tick(10, 120)

    def form(self, form: str) -> None:
        self.visit(_CONTACT_BROWSE if form == "contact" else _FORM_BROWSE, 1, 3)
        self.emit("website", "form_submit", {"form": form})
        self.tick(5, 60)

    def webinar(self) -> None:
        self.campaign(open_p=1.0, click_p=0.0)
        self.tick(60, 3600)
        name = self.rng.choice(_WEBINARS)
        self.emit("website", "webinar_registration", {"webinar": name})
        if self.rng.random() < 0.6:
            self.t += self.rng.randint(2, 9) * _DAY
            self.emit("website", "webinar_attended", {"webinar": name, "minutes": 45})
            self.tick(60, 600)

    def engaged(self) -> None:
        """Engagement score 40+: pricing pages, a positive reply and a rep conversation."""
        for _ in range(5):
            self.page_view("pricing")
        self.pause()
        self.emit("email", "email_sent")
        self.tick(600, 4 * 3600)
        self.emit("email", "email_opened")
        self.tick(60, 3600)
        self.emit("email", "email_replied", {"intent": self.rng.choice(("pricing", "positive"))})
        self.pause()
        self.call("connected", self.rng.randint(150, 900), "interested", ("pricing",))

    def hand_raise(self, how: str) -> None:
        self.pause()
        if how in ("ebook", "whitepaper", "case_study", "template"):
            self.download(how)
        elif how in ("contact", "pricing_request", "trial", "demo_request"):
            self.form(how)
        elif how == "webinar":
            self.webinar()
        else:
            self.engaged()

    # -- disqualifiers ------------------------------------------------------------------

    def opt_out(self) -> None:
        self.pause()
        self.emit("email", "email_sent")
        self.tick(600, 24 * 3600)
        if self.rng.random() < 0.8:
            self.emit("email", "email_unsubscribed")
        else:
            self.emit("email", "email_spam_complaint")
        self.tick(5, 60)

    def disqualifying_call(self) -> None:
        self.pause()
        reason = _DQ_CALL(self.rng)
        self.call("connected", self.rng.randint(120, 900), reason, _DQ_TOPICS[reason])


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
_HAND_RAISE: Final = _Weighted(_HAND_RAISE_WEIGHTS)
_SQL_HAND_RAISE: Final = _Weighted({**_HAND_RAISE_WEIGHTS, "demo_request": 8})


def _journey(lead: _Lead, outcome: str) -> None:
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


def _opportunity(lead: _Lead) -> None:
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


def _profile_fields(lead: _Lead, student: bool) -> dict[str, Any]:
    rng = lead.rng
    seniority = "student" if student else _SENIORITY(rng)
    fields: dict[str, Any] = {"seniority": seniority}
    if rng.random() < 0.85:
        fields["job_title"] = rng.choice(_TITLES[seniority])
    if student:
        city = rng.choice(_CITIES)
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
            fields["industry"] = rng.choice(_INDUSTRIES)
        if rng.random() < 0.8:
            fields["email_domain"] = lead.company[1]
    if rng.random() < 0.85:
        fields["country"] = _COUNTRIES(rng)
    return fields


def _start_lead(index: int, seed: int, base: datetime, prefix: str) -> tuple[_Lead, str]:
    """Lead i of a seed and the journey it will take (the first draws of its own RNG)."""
    rng = random.Random(f"{seed}/{index}")
    lead = _Lead(rng, f"{prefix}-{index:06d}", base)
    return lead, _OUTCOMES(rng)


def _lead_events(
    index: int, seed: int, base: datetime, prefix: str
) -> list[tuple[int, str, SimEvent]]:
    lead, outcome = _start_lead(index, seed, base, prefix)
    rng = lead.rng

    # First touch: an anonymous visitor who identifies later, or a known contact.
    if rng.random() < 0.15:
        lead.anonymous_id = f"v-{rng.getrandbits(64):016x}"
        lead.visit(_ANON_BROWSE, 1, 4, anonymous=True)
        if rng.random() < 0.4:
            lead.pause()
            lead.visit(_ANON_BROWSE, 1, 3, anonymous=True)
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
        lead.profile(lead.t, _profile_fields(lead, student=True))
        lead.tick(5, 60)

    _journey(lead, outcome)

    if outcome not in ("nurture_dq", "sql_dq", "student") and rng.random() < 0.3:
        lead.nurture(1, 2)  # a little activity after the last milestone
    if not student and rng.random() < 0.6:
        # CRM enrichment lands at some point of the journey; sometimes an update later.
        span = lead.t - lead.first_t
        lead.profile(
            lead.first_t + rng.randint(_MINUTE, max(_MINUTE, span // 2) + _MINUTE),
            _profile_fields(lead, student=False),
        )
        if rng.random() < 0.2:
            update = _profile_fields(lead, student=False)
            keep: dict[str, Any] = {
                k: update[k] for k in ("seniority", "job_title", "company_size") if k in update
            }
            lead.profile(lead.t + rng.randint(_HOUR, 7 * _DAY), keep)
    return lead.events


def generate(
    leads: int, seed: int, start: datetime | None = None, lead_prefix: str = "sim"
) -> list[SimEvent]:
    """Every lead's journey as contract messages, sorted by event time (ties by event id).

    Deterministic: the same (leads, seed, start, lead_prefix) gives the same list, and lead i's
    journey does not depend on how many leads are generated.
    """
    if leads < 0:
        raise ValueError("leads must be >= 0")
    base = DEFAULT_START if start is None else start
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    rows: list[tuple[int, str, SimEvent]] = []
    # Only new, long-lived objects are made here: cyclic GC passes would just cost ~1/3 of the time.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(1, leads + 1):
            rows.extend(_lead_events(index, seed, base, lead_prefix))
    finally:
        if gc_was_enabled:
            gc.enable()
    rows.sort(key=lambda row: (row[0], row[1]))
    return [row[2] for row in rows]


# Chance that a lead of each journey is won: opportunities often, nurtured leads rarely.
WIN_CHANCE: Final = {
    "sqo": 0.45,
    "sql": 0.12,
    "sql_dq": 0.03,
    "nurture": 0.02,
    "nurture_dq": 0.005,
    "student": 0.0,
}


@dataclass(frozen=True, slots=True)
class SimulatedOutcomes:
    """The known outcome (won or lost) of every simulated lead, by lead id."""

    by_lead: dict[str, str]

    def write_csv(self, path: Path) -> None:
        """`lead_id,outcome` with a header, in lead order."""
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(("lead_id", "outcome"))
            writer.writerows(self.by_lead.items())


def simulated_outcomes(leads: int, seed: int, lead_prefix: str = "sim") -> SimulatedOutcomes:
    """Whether each lead of `generate(leads, seed)` was won, drawn per lead from its journey.

    The draw uses its own RNG stream, so generate()'s traffic is the same as without it.
    """
    by_lead: dict[str, str] = {}
    for index in range(1, leads + 1):
        lead, journey = _start_lead(index, seed, DEFAULT_START, lead_prefix)
        won = random.Random(f"{seed}/{index}/outcome").random() < WIN_CHANCE[journey]
        by_lead[lead.lead_id] = "won" if won else "lost"
    return SimulatedOutcomes(by_lead)


def write_history(events: Iterable[SimEvent], path: Path) -> int:
    """Write events as a recorded history: one contract JSON value per line (no topic field:
    the event type names it). Returns the number of lines written."""
    count = 0
    with path.open("wb") as file:
        for event in events:
            file.write(orjson.dumps(event.value) + b"\n")
            count += 1
    return count


async def produce(
    settings: Settings,
    events: Iterable[SimEvent],
    rate: float | None,
    on_progress: Callable[[int], None] | None = None,
    *,
    on_send: Callable[[SimEvent], None] | None = None,
    linger_ms: int = 5,
) -> int:
    """Send events to their topics, at `rate` events/s (None: as fast as possible).

    Returns the number of events the broker acknowledged. `on_progress` is called with the
    count acknowledged so far about twice a second, and once at the end; `on_send` with each
    event just before it is handed to the producer (e.g. to measure end-to-end latency).
    The producer waits up to `linger_ms` for more events to send with one.
    """
    if rate is not None and rate <= 0:
        raise ValueError("rate must be > 0 events/s (or None for as fast as possible)")
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **kafka_client_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
    )
    await producer.start()
    sent = 0
    pending: list[asyncio.Future[Any]] = []

    async def confirm() -> None:
        nonlocal sent
        if pending:
            await asyncio.gather(*pending)
            sent += len(pending)
            pending.clear()

    try:
        began = last_report = time.monotonic()
        for i, event in enumerate(events):
            if rate is not None:
                # Absolute schedule: event i is due at began + i/rate; never sleep when behind.
                delay = began + i / rate - time.monotonic()
                if delay > 0.001:
                    await asyncio.sleep(delay)
            if on_send is not None:
                on_send(event)
            pending.append(
                await producer.send(
                    settings.topic("leads." + event.kind),
                    value=orjson.dumps(event.value),
                    key=event.key.encode("utf-8") if event.key is not None else None,
                )
            )
            now = time.monotonic()
            if len(pending) >= 10_000 or (on_progress is not None and now - last_report >= 0.5):
                await confirm()
                if on_progress is not None:
                    on_progress(sent)
                last_report = now
        await producer.flush()
        await confirm()
        if on_progress is not None:
            on_progress(sent)
    finally:
        await producer.stop()
    return sent
