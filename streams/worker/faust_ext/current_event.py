"""faust's current event: making a given event the one faust's tables write for."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from faust.streams import _current_event
from faust.types import EventT


@contextmanager
def processing(event: EventT) -> Iterator[None]:
    """Make `event` faust's current event for a moment.

    faust writes a table key to the store and changelog partition of the event being
    processed; a record's states are stored while a later record of another partition
    may be the current one.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
