"""processing(): an event made faust's current event for a moment, nested or not."""

from __future__ import annotations

import faust
from faust.streams import current_event
from faust.types import TP, EventT, Message

from streams.worker.faust_ext.current_event import processing

EVENTS = TP("leadq.events-by-lead", 0)


def event(app: faust.App, offset: int) -> EventT:
    message = Message(EVENTS.topic, EVENTS.partition, offset, 0.0, 0, None, None, b"[]", None)
    return faust.Event(app, None, b"[]", None, message)


def test_processing_makes_an_event_faust_current_for_a_moment() -> None:
    app = faust.App("current-event-tests", broker="kafka://127.0.0.1:1")
    outer, inner = event(app, 1), event(app, 2)  # faust keeps a weak reference to it
    with processing(outer):
        with processing(inner):
            assert current_event() is inner
        assert current_event() is outer
    assert current_event() is None
