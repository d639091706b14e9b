"""Input event models for the leads.website, leads.email, leads.call and leads.profile topics."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Id = Annotated[str, Field(min_length=1, max_length=128)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Model(BaseModel):
    """Base: strict types, unknown extra fields ignored (forward compatibility)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _NoProperties(_Model):
    """Properties of an event type that defines none (extra ones are ignored)."""


# The enumerated values of event properties (shared with streams/worker/fast_decode.py).
PageCategory = Literal["pricing", "product", "docs", "blog", "careers", "other"]
AssetType = Literal["ebook", "whitepaper", "case_study", "template", "other"]
BounceKind = Literal["hard", "soft"]
CallDirection = Literal["inbound", "outbound"]
CallOutcome = Literal["connected", "voicemail", "no_answer", "busy"]
MeetingKind = Literal["demo", "consultation", "discovery", "proposal_review"]
Seniority = Literal["c_level", "vp", "director", "manager", "individual", "student", "other"]
FormName = Literal[
    "contact", "demo_request", "pricing_request", "proposal_request", "trial", "other"
]
ReplyIntent = Literal[
    "pricing", "implementation", "meeting", "positive", "not_interested", "out_of_office"
]


# --- website -------------------------------------------------------------------------------


class PageViewProperties(_Model):
    url: str
    category: PageCategory | None = None


class ContentDownloadProperties(_Model):
    asset: str
    asset_type: AssetType | None = None


class WebinarRegistrationProperties(_Model):
    webinar: str


class WebinarAttendedProperties(_Model):
    webinar: str
    minutes: NonNegative | None = None


class FormSubmitProperties(_Model):
    form: FormName


class IdentifyProperties(_Model):
    email: str | None = None


# --- email ---------------------------------------------------------------------------------


class EmailClickedProperties(_Model):
    url: str | None = None


class EmailRepliedProperties(_Model):
    intent: ReplyIntent | None = None


class EmailBouncedProperties(_Model):
    bounce: BounceKind


# --- call ----------------------------------------------------------------------------------

CallTopic = Literal[
    "pricing",
    "implementation",
    "demo",
    "consultation",
    "proposal",
    "budget",
    "timeline",
    "competitor",
]
CallDisposition = Literal[
    "interested",
    "demo_scheduled",
    "consultation_held",
    "proposal_requested",
    "opportunity_accepted",
    "not_interested",
    "no_budget",
    "bad_timing",
    "not_a_fit",
    "wrong_contact",
]


class CallCompletedProperties(_Model):
    direction: CallDirection
    duration_s: NonNegative
    outcome: CallOutcome
    rep_id: str | None = None
    topics: list[CallTopic] | None = None
    disposition: CallDisposition | None = None


class MeetingHeldProperties(_Model):
    kind: MeetingKind
    duration_s: NonNegative | None = None
    rep_id: str | None = None


# --- envelopes -----------------------------------------------------------------------------


class LeadEnvelope(_Model):
    """Envelope of email and call events: lead_id is required."""

    event_id: Id
    lead_id: Id
    occurred_at: AwareDatetime
    source: str | None = None


class WebsiteEnvelope(_Model):
    """Envelope of website events: lead_id may be absent when anonymous_id is present."""

    event_id: Id
    lead_id: Id | None = None
    anonymous_id: Id | None = None
    occurred_at: AwareDatetime
    source: str | None = None

    @model_validator(mode="after")
    def _needs_an_identity(self) -> WebsiteEnvelope:
        if self.lead_id is None and self.anonymous_id is None:
            raise ValueError("a website event needs lead_id or anonymous_id")
        return self


class PageViewEvent(WebsiteEnvelope):
    type: Literal["page_view"]
    properties: PageViewProperties


class ContentDownloadEvent(WebsiteEnvelope):
    type: Literal["content_download"]
    properties: ContentDownloadProperties


class NewsletterSignupEvent(WebsiteEnvelope):
    type: Literal["newsletter_signup"]
    properties: _NoProperties = _NoProperties()


class WebinarRegistrationEvent(WebsiteEnvelope):
    type: Literal["webinar_registration"]
    properties: WebinarRegistrationProperties


class WebinarAttendedEvent(WebsiteEnvelope):
    type: Literal["webinar_attended"]
    properties: WebinarAttendedProperties


class FormSubmitEvent(WebsiteEnvelope):
    type: Literal["form_submit"]
    properties: FormSubmitProperties


class IdentifyEvent(WebsiteEnvelope):
    type: Literal["identify"]
    properties: IdentifyProperties = IdentifyProperties()


class EmailSentEvent(LeadEnvelope):
    type: Literal["email_sent"]
    properties: _NoProperties = _NoProperties()


class EmailOpenedEvent(LeadEnvelope):
    type: Literal["email_opened"]
    properties: _NoProperties = _NoProperties()


class EmailClickedEvent(LeadEnvelope):
    type: Literal["email_clicked"]
    properties: EmailClickedProperties = EmailClickedProperties()


class EmailRepliedEvent(LeadEnvelope):
    type: Literal["email_replied"]
    properties: EmailRepliedProperties = EmailRepliedProperties()


class EmailBouncedEvent(LeadEnvelope):
    type: Literal["email_bounced"]
    properties: EmailBouncedProperties


class EmailUnsubscribedEvent(LeadEnvelope):
    type: Literal["email_unsubscribed"]
    properties: _NoProperties = _NoProperties()


class EmailSpamComplaintEvent(LeadEnvelope):
    type: Literal["email_spam_complaint"]
    properties: _NoProperties = _NoProperties()


class CallCompletedEvent(LeadEnvelope):
    type: Literal["call_completed"]
    properties: CallCompletedProperties


class MeetingHeldEvent(LeadEnvelope):
    type: Literal["meeting_held"]
    properties: MeetingHeldProperties


class ProfileRecord(_Model):
    """Fit / demographic facts of a lead; a later record overrides the fields it carries."""

    lead_id: Id
    updated_at: AwareDatetime
    event_id: Id | None = None
    type: Literal["profile"] = "profile"
    source: str | None = None
    company: str | None = None
    company_size: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    industry: str | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    job_title: str | None = None
    seniority: Seniority | None = None
    email_domain: str | None = None

    @model_validator(mode="after")
    def _identify_id(self) -> ProfileRecord:
        if self.event_id is None:
            object.__setattr__(
                self, "event_id", f"profile:{self.lead_id}:{self.updated_at.isoformat()}"
            )
        return self


PROFILE_FIELDS = (
    "company",
    "company_size",
    "industry",
    "country",
    "job_title",
    "seniority",
    "email_domain",
)

WebsiteEvent = Annotated[
    PageViewEvent
    | ContentDownloadEvent
    | NewsletterSignupEvent
    | WebinarRegistrationEvent
    | WebinarAttendedEvent
    | FormSubmitEvent
    | IdentifyEvent,
    Field(discriminator="type"),
]
EmailEvent = Annotated[
    EmailSentEvent
    | EmailOpenedEvent
    | EmailClickedEvent
    | EmailRepliedEvent
    | EmailBouncedEvent
    | EmailUnsubscribedEvent
    | EmailSpamComplaintEvent,
    Field(discriminator="type"),
]
CallEvent = Annotated[CallCompletedEvent | MeetingHeldEvent, Field(discriminator="type")]
InputEvent = WebsiteEnvelope | LeadEnvelope | ProfileRecord

_BY_TYPE: dict[str, type[BaseModel]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        PageViewEvent,
        ContentDownloadEvent,
        NewsletterSignupEvent,
        WebinarRegistrationEvent,
        WebinarAttendedEvent,
        FormSubmitEvent,
        IdentifyEvent,
        EmailSentEvent,
        EmailOpenedEvent,
        EmailClickedEvent,
        EmailRepliedEvent,
        EmailBouncedEvent,
        EmailUnsubscribedEvent,
        EmailSpamComplaintEvent,
        CallCompletedEvent,
        MeetingHeldEvent,
    )
}
EVENT_TYPES: tuple[str, ...] = (*_BY_TYPE, "profile")


def event_property_names(event_type: str) -> frozenset[str] | None:
    """Property names an event type carries (profile: its fact fields); None if unknown."""
    if event_type == "profile":
        return frozenset(PROFILE_FIELDS)
    model = _BY_TYPE.get(event_type)
    if model is None:
        return None
    props = model.model_fields["properties"].annotation
    assert isinstance(props, type)
    assert issubclass(props, BaseModel)
    return frozenset(props.model_fields)


def _literal_values(annotation: Any) -> tuple[str, ...]:
    """The string values of a Literal (also inside Optional or list[...]), else ()."""
    if get_origin(annotation) is Literal:
        return tuple(v for v in get_args(annotation) if isinstance(v, str))
    return tuple(v for arg in get_args(annotation) for v in _literal_values(arg))


def enumerated_properties(event_type: str) -> dict[str, tuple[str, ...]]:
    """The properties of an event type whose values the contract enumerates, with their values
    (e.g. form_submit: {"form": ("contact", "demo_request", ...)}); {} for none or unknown."""
    model = _BY_TYPE.get(event_type)
    if model is None:
        return {}
    props = model.model_fields["properties"].annotation
    assert isinstance(props, type)
    assert issubclass(props, BaseModel)
    out: dict[str, tuple[str, ...]] = {}
    for name, field in props.model_fields.items():
        values = _literal_values(field.annotation)
        if values:
            out[name] = values
    return out
