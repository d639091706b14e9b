"""One simulated lead's events, built step by step on an event-time cursor."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from streams.tools.simulate.catalog import (
    ASSETS,
    BROWSE,
    COMPANY_A,
    COMPANY_B,
    CONTACT_BROWSE,
    CONTENT_BROWSE,
    DQ_CALL,
    DQ_TOPICS,
    FIRST,
    FORM_BROWSE,
    LAST,
    SITE,
    SLUGS,
    SOURCES,
    WEBINARS,
    Weighted,
)
from streams.tools.simulate.event import Kind, SimEvent

ARRIVAL_WINDOW_MS: Final = 21 * 24 * 3600 * 1000  # leads arrive over three weeks
UNKEYED_SHARE: Final = 0.10

SECOND: Final = 1000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR


class SimLead:
    """Builds one lead's journey on an event-time cursor (ms since the simulation start)."""

    def __init__(self, rng: random.Random, lead_id: str, base: datetime) -> None:
        self.rng = rng
        self.lead_id = lead_id
        self.base = base
        self.t = rng.randrange(ARRIVAL_WINDOW_MS)
        self.first_t = self.t
        self.last_t = self.t - SECOND
        # Pace: the mean pause between sessions (hours for hot leads, days for slow ones).
        self.mean_pause = rng.choice((2, 6, 18, 36, 72, 120)) * HOUR
        self.anonymous_id: str | None = None
        self.n = 0
        self.events: list[tuple[int, str, SimEvent]] = []
        self.newsletter = False
        self.company = self._company()

    # -- time -------------------------------------------------------------------------------

    def tick(self, low_s: float, high_s: float) -> None:
        """Advance within a session (at least one second, so a lead's events never tie)."""
        self.t += max(SECOND, int(self.rng.uniform(low_s, high_s) * SECOND))

    def pause(self) -> None:
        """Advance to the lead's next session."""
        gap = self.rng.expovariate(1 / self.mean_pause)
        self.t += int(min(max(gap, 10 * MINUTE), 7 * DAY))

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
        self.t = max(self.t, self.last_t + SECOND)
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
        value["source"] = SOURCES[kind]
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
        a, b = self.rng.choice(COMPANY_A), self.rng.choice(COMPANY_B)
        return f"{a} {b}", f"{a}{b}".lower() + ".example"

    def email_address(self) -> str:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        return f"{first}.{last}@{self.company[1]}"

    def page_view(self, category: str, *, anonymous: bool = False) -> None:
        slug = self.rng.choice(SLUGS[category])
        url = f"{SITE}/{category}/{slug}".rstrip("/")
        self.emit("website", "page_view", {"url": url, "category": category}, anonymous=anonymous)
        self.tick(15, 240)

    def visit(
        self, mix: Weighted = BROWSE, low: int = 1, high: int = 4, anonymous: bool = False
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
        self.visit(CONTENT_BROWSE, 1, 2)
        asset = self.rng.choice(ASSETS[asset_type])
        self.emit("website", "content_download", {"asset": asset, "asset_type": asset_type})
        self.tick(10, 120)

    def form(self, form: str) -> None:
        self.visit(CONTACT_BROWSE if form == "contact" else FORM_BROWSE, 1, 3)
        self.emit("website", "form_submit", {"form": form})
        self.tick(5, 60)

    def webinar(self) -> None:
        self.campaign(open_p=1.0, click_p=0.0)
        self.tick(60, 3600)
        name = self.rng.choice(WEBINARS)
        self.emit("website", "webinar_registration", {"webinar": name})
        if self.rng.random() < 0.6:
            self.t += self.rng.randint(2, 9) * DAY
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
        reason = DQ_CALL(self.rng)
        self.call("connected", self.rng.randint(120, 900), reason, DQ_TOPICS[reason])
