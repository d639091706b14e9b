"""A fast path from an input message's bytes to the core's LeadEvent, for what is surely valid."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec

from schemas.decode import TopicKind
from schemas.events import (
    PROFILE_FIELDS,
    AssetType,
    BounceKind,
    CallDirection,
    CallDisposition,
    CallOutcome,
    CallTopic,
    FormName,
    MeetingKind,
    PageCategory,
    ReplyIntent,
    Seniority,
)
from streams.core.events import EventOrigin, LeadEvent, lead_event

# The contract (schemas.events) is the pydantic models; the structs below mirror them with
# constraints that are never looser, and fast_lead_event answers None ("not sure") whenever
# msgspec or a check here refuses a value, so that the pydantic models decide it: what is
# accepted, and the rejection's code and message, stay theirs. tests/unit/worker/
# test_fast_decode.py holds the two paths to the same answers.
#
# Values the pydantic JSON parser refuses but msgspec would skip inside an unknown field,
# left to the contract: more than 4,300 digits in a number (4,096 bytes cannot hold one),
# nesting deeper than 201 levels (200 brackets cannot make it), invalid UTF-8.
MAX_FAST_BYTES: Final = 4096
MAX_FAST_BRACKETS: Final = 200

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
NonNegative = Annotated[float, msgspec.Meta(ge=0, le=sys.float_info.max)]  # finite
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}\Z")]  # pydantic's "$" is the end
CompanySize = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]

# RFC 3339 timestamps in one spelling (pydantic reads others too: they go to pydantic),
# which datetime.fromisoformat reads as pydantic does.
_TIMESTAMP: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


class _Properties(msgspec.Struct, gc=False):
    """Properties of an event type (extra ones are ignored)."""


class _PageView(_Properties):
    url: str
    category: PageCategory | None = None


class _ContentDownload(_Properties):
    asset: str
    asset_type: AssetType | None = None


class _WebinarRegistration(_Properties):
    webinar: str


class _WebinarAttended(_Properties):
    webinar: str
    minutes: NonNegative | None = None


class _FormSubmit(_Properties):
    form: FormName


class _Identify(_Properties):
    email: str | None = None


class _EmailClicked(_Properties):
    url: str | None = None


class _EmailReplied(_Properties):
    intent: ReplyIntent | None = None


class _EmailBounced(_Properties):
    bounce: BounceKind


class _CallCompleted(_Properties):
    direction: CallDirection
    duration_s: NonNegative
    outcome: CallOutcome
    rep_id: str | None = None
    topics: list[CallTopic] | None = None
    disposition: CallDisposition | None = None


class _MeetingHeld(_Properties):
    kind: MeetingKind
    duration_s: NonNegative | None = None
    rep_id: str | None = None


class _Event(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    """Envelope of email and call events: lead_id is required."""

    event_id: Id
    lead_id: Id
    occurred_at: str
    source: str | None = None
    properties: _Properties = msgspec.field(default_factory=_Properties)  # of no fields


class _WebsiteEvent(_Event, kw_only=True):
    """Envelope of website events: lead_id or anonymous_id (checked after decoding)."""

    lead_id: Id | None = None  # type: ignore[assignment]
    anonymous_id: Id | None = None


class _PageViewEvent(_WebsiteEvent, tag="page_view"):
    properties: _PageView


class _ContentDownloadEvent(_WebsiteEvent, tag="content_download"):
    properties: _ContentDownload


class _NewsletterSignupEvent(_WebsiteEvent, tag="newsletter_signup"):
    pass


class _WebinarRegistrationEvent(_WebsiteEvent, tag="webinar_registration"):
    properties: _WebinarRegistration


class _WebinarAttendedEvent(_WebsiteEvent, tag="webinar_attended"):
    properties: _WebinarAttended


class _FormSubmitEvent(_WebsiteEvent, tag="form_submit"):
    properties: _FormSubmit


class _IdentifyEvent(_WebsiteEvent, tag="identify"):
    properties: _Identify = msgspec.field(default_factory=_Identify)


class _EmailSentEvent(_Event, tag="email_sent"):
    pass


class _EmailOpenedEvent(_Event, tag="email_opened"):
    pass


class _EmailClickedEvent(_Event, tag="email_clicked"):
    properties: _EmailClicked = msgspec.field(default_factory=_EmailClicked)


class _EmailRepliedEvent(_Event, tag="email_replied"):
    properties: _EmailReplied = msgspec.field(default_factory=_EmailReplied)


class _EmailBouncedEvent(_Event, tag="email_bounced"):
    properties: _EmailBounced


class _EmailUnsubscribedEvent(_Event, tag="email_unsubscribed"):
    pass


class _EmailSpamComplaintEvent(_Event, tag="email_spam_complaint"):
    pass


class _CallCompletedEvent(_Event, tag="call_completed"):
    properties: _CallCompleted


class _MeetingHeldEvent(_Event, tag="meeting_held"):
    properties: _MeetingHeld


class _Profile(msgspec.Struct, kw_only=True, gc=False):
    """Fit / demographic facts of a lead."""

    lead_id: Id
    updated_at: str
    event_id: Id | None = None
    type: Literal["profile"] = "profile"
    source: str | None = None
    company: str | None = None
    company_size: CompanySize | None = None
    industry: str | None = None
    country: Country | None = None
    job_title: str | None = None
    seniority: Seniority | None = None
    email_domain: str | None = None


_DECODERS: Final[dict[TopicKind, msgspec.json.Decoder[_Event | _Profile]]] = {
    "website": msgspec.json.Decoder(
        _PageViewEvent
        | _ContentDownloadEvent
        | _NewsletterSignupEvent
        | _WebinarRegistrationEvent
        | _WebinarAttendedEvent
        | _FormSubmitEvent
        | _IdentifyEvent
    ),
    "email": msgspec.json.Decoder(
        _EmailSentEvent
        | _EmailOpenedEvent
        | _EmailClickedEvent
        | _EmailRepliedEvent
        | _EmailBouncedEvent
        | _EmailUnsubscribedEvent
        | _EmailSpamComplaintEvent
    ),
    "call": msgspec.json.Decoder(_CallCompletedEvent | _MeetingHeldEvent),
    "profile": msgspec.json.Decoder(_Profile),
}
EVENT_STRUCTS: Final[dict[str, type[_Event]]] = {
    str(cls.__struct_config__.tag): cls
    for cls in (
        _PageViewEvent,
        _ContentDownloadEvent,
        _NewsletterSignupEvent,
        _WebinarRegistrationEvent,
        _WebinarAttendedEvent,
        _FormSubmitEvent,
        _IdentifyEvent,
        _EmailSentEvent,
        _EmailOpenedEvent,
        _EmailClickedEvent,
        _EmailRepliedEvent,
        _EmailBouncedEvent,
        _EmailUnsubscribedEvent,
        _EmailSpamComplaintEvent,
        _CallCompletedEvent,
        _MeetingHeldEvent,
    )
}
"""The struct of each event type (its tag)."""
PROFILE_STRUCT: Final = _Profile
_TYPES: Final = {cls: event_type for event_type, cls in EVENT_STRUCTS.items()}


def fast_lead_event(
    kind: TopicKind, raw: bytes, origin: EventOrigin | None = None
) -> LeadEvent | None:
    """The event of a value of the given input topic kind, exactly as
    ``to_lead_event(decode(kind, raw), origin)`` makes it; None when this path is not sure
    the value is valid (then decode says what it is)."""
    if len(raw) > MAX_FAST_BYTES or raw.count(b"[") + raw.count(b"{") > MAX_FAST_BRACKETS:
        return None
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        decoded = _DECODERS[kind].decode(raw)
    except msgspec.DecodeError:  # malformed or invalid (msgspec.ValidationError)
        return None
    if isinstance(decoded, _Profile):
        return _profile_event(decoded, origin)
    occurred_at = _timestamp(decoded.occurred_at)
    if occurred_at is None:
        return None
    if isinstance(decoded, _WebsiteEvent):
        anonymous_id = decoded.anonymous_id
        if decoded.lead_id is None and anonymous_id is None:
            return None
    else:
        anonymous_id = None
    props = decoded.properties
    return lead_event(
        decoded.event_id,
        _TYPES[type(decoded)],
        occurred_at,
        decoded.lead_id,
        anonymous_id,
        {
            name: value
            for name in props.__struct_fields__
            if (value := getattr(props, name)) is not None
        },
        None,
        origin,
    )


def _profile_event(decoded: _Profile, origin: EventOrigin | None) -> LeadEvent | None:
    updated_at = _timestamp(decoded.updated_at)
    if updated_at is None:
        return None
    event_id = decoded.event_id
    if event_id is None:  # as ProfileRecord names it
        event_id = f"profile:{decoded.lead_id}:{updated_at.isoformat()}"
    return lead_event(
        event_id,
        "profile",
        updated_at,
        decoded.lead_id,
        None,
        {name: value for name in PROFILE_FIELDS if (value := getattr(decoded, name)) is not None},
        None,
        origin,
    )


def _timestamp(text: str) -> datetime | None:
    """The instant of an RFC 3339 timestamp, in the standard library's time zone of its
    offset (as to_lead_event gives it); None for another spelling or an impossible date."""
    if _TIMESTAMP.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
