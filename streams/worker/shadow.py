"""A shadow ruleset: evaluated on the qualify agent's records with its own state and topic."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

import faust
import orjson

from streams.core.events import LeadEvent, StageChanged
from streams.core.qualify import ANONYMOUS_PREFIX, Qualifier
from streams.core.state import LeadState
from streams.worker.codec import decode_state, encode_state, stage_change_dict
from streams.worker.timers import DueIndex, Tick, process_item

log = logging.getLogger(__name__)

# What applying one record gives the shadow: the final shadow state of each lead it touched
# (to be stored) and its encoded stage changes (key, value) for the shadow topic.
ShadowResult = tuple[dict[bytes, LeadState], list[tuple[bytes, bytes]]]


def shadow_change_id(lead_id: str, sequence: int) -> str:
    """A shadow change's id: `{lead_id}:{sequence}:shadow`. An active change's id,
    `{lead_id}:{sequence}`, always ends in digits, so the two never collide, whatever the
    lead id holds."""
    return f"{lead_id}:{sequence}:shadow"


def encode_shadow_change(change: StageChanged, emitted_at: datetime | None = None) -> bytes:
    """Value bytes for leads.shadow-stage-changes: the contract's stage-change record with
    the shadow's change_id."""
    body = stage_change_dict(change, emitted_at or datetime.now(UTC))
    body["change_id"] = shadow_change_id(change.lead_id, change.sequence)
    return orjson.dumps(body)


class Shadow:
    """A second ruleset applied to the same items as the active one, after it, with a
    state per lead of its own (a table of its own, backed by its own changelog).

    Its stage changes go with the record's sends (to its own topic), so they are acknowledged
    before its states are stored, and its states are stored with the active ones, before
    the record is acked: the same order, and so the same re-emissions after a fault, as the
    active ruleset's. It never triggers anything else: no hand-overs (an anonymous visitor's
    history reaches the shadow through the active ruleset's hand-over, so visitors' keys are
    left to the active ruleset), no dead letters (a rejection is logged and counted).
    """

    def __init__(self, *, qualifier: Qualifier, table: faust.Table, due: DueIndex) -> None:
        self.qualifier = qualifier
        self.table = table  # lead key (bytes) -> encoded shadow LeadState
        self.due = due  # when each lead's shadow state is next due for a time-driven change
        self.rejected: Counter[str] = Counter()  # rejections by code, and processing errors

    def apply_items(
        self,
        items: list[tuple[str, LeadEvent | Tick]],
        ahead: dict[bytes, LeadState],
    ) -> ShadowResult:
        """Apply a record's items in order on top of the shadow states applied but not
        stored yet (`ahead`); returns the shadow states it left and its stage changes."""
        states: dict[bytes, LeadState] = {}
        changes: list[tuple[bytes, bytes]] = []
        for key, item in items:
            if key.startswith(ANONYMOUS_PREFIX):
                continue
            raw_key = key.encode()
            if raw_key in states:
                state = states[raw_key]
            elif raw_key in ahead:
                state = ahead[raw_key]
            elif (stored := self.table.get(raw_key)) is not None:
                # Stored again even when unchanged, as the active states (see QualifyAgent).
                state = states[raw_key] = decode_state(stored)
            else:
                state = LeadState(key=key)
            try:
                decision = process_item(self.qualifier, state, item)
            except Exception:  # a bug in the shadow's rules must not stop anything
                log.exception("shadow ruleset: qualifying %r for %r failed", item, key)
                self.rejected["processing_error"] += 1
                continue
            if decision.rejection is not None:
                self.rejected[decision.rejection.code] += 1
                log.debug("shadow ruleset rejected an item: %s", decision.rejection.message)
            if decision.state is not state:
                states[raw_key] = decision.state
                changes.extend((raw_key, encode_shadow_change(c)) for c in decision.changes)
        return states, changes

    def store(self, key: bytes, state: LeadState) -> None:
        """Write a lead's shadow state to its table (faust also writes it to the changelog)."""
        self.table[key] = encode_state(state)
        self.due.observe(state.clock_ms)
        self.due.update(key, self.qualifier.next_due_ms(state))
