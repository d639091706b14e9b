"""Candidate signals, the seeded split of leads, and each lead's signal features."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from schemas.events import EVENT_TYPES, enumerated_properties
from streams.core.events import LeadEvent
from streams.core.qualify import Qualifier
from streams.core.ruleset import Match, Ruleset, Signal

# Event types that say nothing about the lead's own interest: not offered as candidates.
SKIPPED_TYPES: Final = frozenset({"identify", "email_sent", "profile"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """A signal the learner may give points: one of the base ruleset's, or derived from the
    contract (an event type, or an event type with one value of an enumerated property)."""

    id: str
    signal: Signal
    from_base: bool


def covers(match: Match, etype: str, prop: str | None, value: str | None) -> bool:
    """Whether a base pattern already says what a derived candidate would: the same type and
    either no tests at all (for a whole-type candidate) or one test on the same property
    that accepts the value (`form = "demo_request"`, `asset_type = ["ebook", ...]`)."""
    if match.type != etype:
        return False
    tests = match.tests
    if prop is None:
        return not tests
    if set(tests) != {prop}:
        return False
    test = tests[prop]
    return test == value or (isinstance(test, list) and value in test)


def _derived() -> list[tuple[str, str, str, str | None, str | None]]:
    """(id, description, type, property, value) of every derived candidate, in contract
    order: a whole event type when the contract enumerates none of its properties, else
    each value of each enumerated property."""
    out: list[tuple[str, str, str, str | None, str | None]] = []
    for etype in EVENT_TYPES:
        if etype in SKIPPED_TYPES:
            continue
        props = enumerated_properties(etype)
        if not props:
            out.append((etype, f"Any {etype} event", etype, None, None))
        for prop, values in props.items():
            for value in values:
                sig_id = f"{etype}_{value}" if len(props) == 1 else f"{etype}_{prop}_{value}"
                out.append((sig_id, f"{etype} with {prop} = {value}", etype, prop, value))
    return out


def candidates(base: Ruleset) -> list[Candidate]:
    """The base ruleset's signals, then the derived ones no base pattern already covers (so
    that a base signal's weight is not split among its own parts)."""
    out = [Candidate(sig_id, signal, True) for sig_id, signal in base.signals.items()]
    patterns = [m for s in base.signals.values() for m in s.match]
    taken = set(base.signals)
    for sig_id, text, etype, prop, value in _derived():
        if any(covers(m, etype, prop, value) for m in patterns):
            continue
        match = Match.model_validate(
            {"type": etype} if prop is None else {"type": etype, prop: value}
        )
        unique, n = sig_id, 2
        while unique in taken:
            unique, n = f"{sig_id}_{n}", n + 1
        taken.add(unique)
        out.append(Candidate(unique, Signal(description=text, match=[match]), False))
    return out


def probe(base: Ruleset, cands: Sequence[Candidate]) -> Qualifier:
    """A qualifier whose signals are all the candidates: its signals_of() matches events
    exactly as a ruleset holding them would."""
    signals = {c.id: c.signal for c in cands}
    return Qualifier(base.model_copy(update={"signals": signals}))


def held_out(lead_id: str, seed: int, share: float) -> bool:
    """Whether a lead is held out: a seeded hash of its id, so a lead stays on its side
    whatever other leads the history holds."""
    digest = hashlib.blake2b(f"{seed}/{lead_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def split(lead_ids: Iterable[str], seed: int, share: float) -> tuple[list[str], list[str]]:
    """(training, held-out) lead ids, each sorted."""
    train: list[str] = []
    hold: list[str] = []
    for lead_id in sorted(lead_ids):
        (hold if held_out(lead_id, seed, share) else train).append(lead_id)
    return train, hold


def present_signals(qualifier: Qualifier, events: Iterable[LeadEvent]) -> frozenset[str]:
    """The signals that occurred at least once in a lead's events (an event id counts once)."""
    seen: set[str] = set()
    found: set[str] = set()
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        found.update(qualifier.signals_of(event))
    return frozenset(found)


def feature_rows(
    qualifier: Qualifier, by_lead: Mapping[str, Sequence[LeadEvent]], lead_ids: Sequence[str]
) -> list[frozenset[str]]:
    """Per lead (in the order given), the candidate signals present in its history."""
    return [present_signals(qualifier, by_lead[lead_id]) for lead_id in lead_ids]
