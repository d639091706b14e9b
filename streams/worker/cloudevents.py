"""CloudEvents 1.0 headers (Kafka binary mode) for the records the worker emits."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from cloudevents.core.bindings.kafka import to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

STAGE_CHANGED: Final = "io.leadq.lead.stage_changed.v1"
SLA_WARNING: Final = "io.leadq.lead.sla_warning.v1"
SLA_BREACHED: Final = "io.leadq.lead.sla_breached.v1"
# The CloudEvents type of a leads.sla record, by its kind.
SLA_TYPES: Final = {"warning": SLA_WARNING, "breached": SLA_BREACHED}
_FORMAT: Final = JSONFormat()

Headers = list[tuple[str, bytes]]


def binary_headers(
    *, event_id: str, source: str, event_type: str, subject: str, time: datetime
) -> Headers:
    """The Kafka headers of a CloudEvent in binary mode (`ce_*` and `content-type`); the
    record's value stays as it is."""
    event = CloudEvent(
        attributes={
            "id": event_id,
            "source": source,
            "type": event_type,
            "subject": subject,
            "time": time,
            "datacontenttype": "application/json",
        },
        data=None,
    )
    return list(to_binary(event, _FORMAT).headers.items())
