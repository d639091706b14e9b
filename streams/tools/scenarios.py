"""The source article's examples as replayable scenarios: events in, stage changes expected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas.decode import Rejection, TopicKind, decode
from streams.core.events import LeadEvent
from streams.worker.codec import to_lead_event

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

_KIND_OF_TYPE: dict[str, TopicKind] = {
    "call_completed": "call",
    "meeting_held": "call",
    "profile": "profile",
}


@dataclass(frozen=True)
class Step:
    """One input message of a scenario."""

    kind: TopicKind
    value: dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """An article example: which preset, what the lead does, which stage changes follow."""

    name: str
    preset: str
    story: str
    steps: tuple[Step, ...]
    expected: tuple[tuple[str, str], ...]

    def for_lead(self, lead_id: str) -> Scenario:
        """The same scenario for another lead id (unique ids per test run)."""
        steps = tuple(
            Step(
                s.kind,
                {
                    **s.value,
                    "lead_id": lead_id,
                    "event_id": f"{lead_id}:{s.value['event_id']}",
                },
            )
            for s in self.steps
        )
        return Scenario(self.name, self.preset, self.story, steps, self.expected)


def _step(n: int, type_: str, minutes: int, **properties: Any) -> Step:
    kind: TopicKind = _KIND_OF_TYPE.get(type_, "email" if type_.startswith("email_") else "website")
    value: dict[str, Any] = {
        "event_id": f"e{n}",
        "type": type_,
        "lead_id": "lead",
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "source": "scenario",
    }
    if properties:
        value["properties"] = properties
    return Step(kind, value)


def _call(n: int, minutes: int, **properties: Any) -> Step:
    base = {"direction": "outbound", "duration_s": 900, "outcome": "connected", "rep_id": "rep-7"}
    return _step(n, "call_completed", minutes, **(base | properties))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "software-ebook-sql",
        "default",
        "Downloads an e-book on project-management strategies: an SQL.",
        (
            _step(1, "page_view", 0, url="/blog/pm-tips", category="blog"),
            _step(2, "content_download", 5, asset="pm-strategies.pdf", asset_type="ebook"),
        ),
        (("lead", "sql"),),
    ),
    Scenario(
        "software-demo-sqo",
        "default",
        "Downloads the e-book, asks for a demo and talks to a sales rep: an SQO.",
        (
            _step(1, "content_download", 0, asset="pm-strategies.pdf", asset_type="ebook"),
            _step(2, "form_submit", 60, form="demo_request"),
            _call(3, 1440),
        ),
        (("lead", "sql"), ("sql", "sqo")),
    ),
    Scenario(
        "software-newsletter-only",
        "default",
        "Only signs up for the newsletter: not an SQL for a software company.",
        (_step(1, "newsletter_signup", 0), _step(2, "email_opened", 600)),
        (),
    ),
    Scenario(
        "startup-newsletter-sql",
        "startup",
        "Signs up for the newsletter: an SQL, not yet an SQO.",
        (_step(1, "newsletter_signup", 0), _step(2, "email_clicked", 300, url="/features")),
        (("lead", "sql"),),
    ),
    Scenario(
        "startup-demo-sqo",
        "startup",
        "Downloads a free resource, then asks for a demo: an SQO.",
        (
            _step(1, "content_download", 0, asset="checklist.pdf", asset_type="template"),
            _step(2, "form_submit", 120, form="demo_request"),
        ),
        (("lead", "sql"), ("sql", "sqo")),
    ),
    Scenario(
        "startup-pricing-question-sqo",
        "startup",
        "Newsletter subscriber replies to sales with a specific pricing question: an SQO.",
        (
            _step(1, "newsletter_signup", 0),
            _step(2, "email_replied", 2880, intent="pricing"),
        ),
        (("lead", "sql"), ("sql", "sqo")),
    ),
    Scenario(
        "startup-demo-request-alone",
        "startup",
        "A demo request is both interest and intent: lead -> sql -> sqo from one event.",
        (_step(1, "form_submit", 0, form="demo_request"),),
        (("lead", "sql"), ("sql", "sqo")),
    ),
    Scenario(
        "consultancy-contact-sql",
        "consultancy",
        "Fills in the contact form to ask for more information: an SQL.",
        (_step(1, "form_submit", 0, form="contact"),),
        (("lead", "sql"),),
    ),
    Scenario(
        "consultancy-consultation-sqo",
        "consultancy",
        "Contact form, then an initial consultation took place: an SQO.",
        (
            _step(1, "form_submit", 0, form="contact"),
            _step(2, "meeting_held", 4320, kind="consultation", duration_s=3600, rep_id="rep-2"),
        ),
        (("lead", "sql"), ("sql", "sqo")),
    ),
    Scenario(
        "agency-webinar-sql",
        "agency",
        "Signs up for a webinar: an SQL.",
        (_step(1, "webinar_registration", 0, webinar="seo-2026"),),
        (("lead", "sql"),),
    ),
    Scenario(
        "agency-proposal-sqo",
        "agency",
        "Downloads an e-book, then asks for a proposal: an SQO.",
        (
            _step(1, "content_download", 0, asset="growth.pdf", asset_type="ebook"),
            _step(2, "form_submit", 1440, form="proposal_request"),
        ),
        (("lead", "sql"), ("sql", "sqo")),
    ),
    Scenario(
        "agency-conversations-sqo",
        "agency",
        "Webinar signup, then two conversations with the sales team: an SQO after the second.",
        (
            _step(1, "webinar_registration", 0, webinar="seo-2026"),
            _call(2, 1440),
            _call(3, 2880, disposition="interested"),
        ),
        (("lead", "sql"), ("sql", "sqo")),
    ),
    Scenario(
        "agency-one-conversation",
        "agency",
        "Webinar signup and one conversation: still an SQL.",
        (_step(1, "webinar_registration", 0, webinar="seo-2026"), _call(2, 1440)),
        (("lead", "sql"),),
    ),
    Scenario(
        "software-no-budget",
        "default",
        "An SQL whose call reveals there is no budget: disqualified (budget).",
        (
            _step(1, "content_download", 0, asset="pm-strategies.pdf", asset_type="ebook"),
            _call(2, 1440, disposition="no_budget"),
            _step(3, "form_submit", 2880, form="demo_request"),
        ),
        (("lead", "sql"), ("sql", "disqualified")),
    ),
    Scenario(
        "startup-bad-timing",
        "startup",
        "An SQL whose priorities changed: disqualified (bad timing).",
        (_step(1, "newsletter_signup", 0), _call(2, 600, disposition="bad_timing")),
        (("lead", "sql"), ("sql", "disqualified")),
    ),
    Scenario(
        "consultancy-mismatch",
        "consultancy",
        "Contact form, then the need does not match the offer: disqualified (mismatch).",
        (_step(1, "form_submit", 0, form="contact"), _call(2, 600, disposition="not_a_fit")),
        (("lead", "sql"), ("sql", "disqualified")),
    ),
)


def scenario(name: str) -> Scenario:
    """A scenario by name."""
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(name)


def lead_events(steps: tuple[Step, ...]) -> list[LeadEvent]:
    """Validate scenario steps as the worker would and return the core's events."""
    events = []
    for step in steps:
        decoded = decode(step.kind, orjson.dumps(step.value))
        if isinstance(decoded, Rejection):
            raise ValueError(f"scenario step {step.value['event_id']}: {decoded.message}")
        events.append(to_lead_event(decoded))
    return events
