"""The api's in-memory read model of every lead, built from topics by pure update functions."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Final, get_args

import orjson
from pydantic import ValidationError

from schemas.outputs import LeadStage, Stage, StageChange
from streams.core.evaluate import View
from streams.core.events import STAGES, from_ms
from streams.core.explain import explain_next
from streams.core.qualify import ANONYMOUS_PREFIX
from streams.core.ruleset import Ruleset
from streams.core.state import LeadState

MAX_CHANGES: Final = 20  # per lead, as GET /leads/{lead_id} returns them
MAX_RECENT: Final = 100  # of all leads, for the page
_STAGE_NAMES: Final = frozenset(get_args(Stage))


class BadRecord(ValueError):
    """A record the read model cannot use (not JSON, or not the shape its topic has)."""


@dataclass(frozen=True, slots=True)
class _Position:
    """A lead's stage as one source knows it."""

    sequence: int
    stage: Stage
    since: datetime | None
    disqualification_reason: str | None
    ruleset: tuple[str, str] | None  # (name, version), where the source says


@dataclass(slots=True)
class _Lead:
    state: bytes | None = None  # the changelog value
    from_state: _Position | None = None
    from_stages: _Position | None = None  # leads.lead-stages
    from_change: _Position | None = None  # the newest of `changes`
    changes: list[tuple[int, str, bytes]] = field(default_factory=list)  # newest first

    def position(self) -> _Position | None:
        """The most recent of what the sources say (ties: lead-stages, changes, state)."""
        candidates = [p for p in (self.from_stages, self.from_change, self.from_state) if p]
        return max(candidates, key=lambda p: p.sequence, default=None)

    def empty(self) -> bool:
        return self.state is None and self.from_stages is None and not self.changes


@dataclass(frozen=True, slots=True)
class LeadParts:
    """What a lookup of one lead is built from."""

    lead_id: str
    stage: Stage
    since: datetime | None
    sequence: int
    disqualification_reason: str | None
    ruleset: tuple[str, str] | None
    state: LeadState | None
    changes: tuple[StageChange, ...]


class Replica:
    """Every lead's state, current stage and last stage changes, and the funnel's counts.

    Three topics feed it, each read from its beginning: the workers' lead-state changelog
    (a lead's state: what `next` and the scores are computed from), `leads.lead-stages`
    (each lead's current stage) and `leads.stage-changes` (the changes themselves). The
    latest per key is kept; a lead's stage is taken from whichever of them has seen its
    latest change (the highest sequence), so the topics may be read at different speeds.
    The apply_* methods take a record's key and value as read (value None: a tombstone)
    and raise BadRecord for one they cannot use, changing nothing then.
    """

    def __init__(self) -> None:
        self.leads: dict[str, _Lead] = {}
        self.counts: Counter[str] = Counter({stage: 0 for stage in STAGES})
        self.reached: dict[str, set[str]] = {"sql": set(), "sqo": set()}
        self.recent: deque[bytes] = deque(maxlen=MAX_RECENT)

    # -- updates ---------------------------------------------------------------------

    def apply_state(self, key: bytes | None, value: bytes | None) -> None:
        """A lead-state changelog record (visitors' states are skipped)."""
        lead_id = _lead_key(key)
        if lead_id.startswith(ANONYMOUS_PREFIX):
            return
        if value is None:
            self._update(lead_id, partial(_set_state, value=None, position=None))
            return
        body = _json_object(value)  # the rest of the state is read when the lead is looked up
        try:
            at_ms = body.get("stage_at_ms")
            position = _Position(
                sequence=_int(body["sequence"]),
                stage=_stage(body["stage"]),
                since=None if at_ms is None else from_ms(_int(at_ms)),
                disqualification_reason=_optional_text(body.get("disqualification_reason")),
                ruleset=None,
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise BadRecord(f"not a lead state: {exc!r}") from None
        self._update(lead_id, partial(_set_state, value=value, position=position))

    def apply_lead_stage(self, key: bytes | None, value: bytes | None) -> None:
        """A leads.lead-stages record."""
        lead_id = _lead_key(key)
        if value is None:
            self._update(lead_id, partial(_set_stages, position=None))
            return
        try:
            record = LeadStage.model_validate_json(value)
        except ValidationError as exc:
            raise BadRecord(f"not a lead stage: {exc.error_count()} problem(s)") from None
        position = _Position(
            sequence=record.sequence,
            stage=record.stage,
            since=record.since,
            disqualification_reason=record.disqualification_reason,
            ruleset=(record.ruleset.name, record.ruleset.version),
        )
        self._update(lead_id, partial(_set_stages, position=position))
        self._reach(lead_id, record.stage)

    def apply_change(self, key: bytes | None, value: bytes | None) -> StageChange | None:
        """A leads.stage-changes record; returns the change unless it repeats one."""
        if value is None:
            return None
        try:
            change = StageChange.model_validate_json(value)
        except ValidationError as exc:
            raise BadRecord(f"not a stage change: {exc.error_count()} problem(s)") from None
        lead = self.leads.get(change.lead_id)
        if lead is not None and any(cid == change.change_id for _, cid, _ in lead.changes):
            return None  # a re-emission after a fault: same id, same content
        self._update(change.lead_id, partial(_add_change, change=change, raw=value))
        self._reach(change.lead_id, change.to_stage)
        self.recent.appendleft(value)
        return change

    def _update(self, lead_id: str, change: Callable[[_Lead], None]) -> None:
        """Apply `change` to a lead's entry, keeping the counts by stage in step."""
        lead = self.leads.get(lead_id)
        before = lead.position() if lead is not None else None
        if lead is None:
            lead = self.leads[lead_id] = _Lead()
        change(lead)
        after = lead.position()
        if before is not None:
            self.counts[before.stage] -= 1
        if after is not None:
            self.counts[after.stage] += 1
        if lead.empty():
            del self.leads[lead_id]

    def _reach(self, lead_id: str, stage: Stage) -> None:
        if stage == "sqo":
            self.reached["sql"].add(lead_id)  # an sqo has been an sql
        if stage in self.reached:
            self.reached[stage].add(lead_id)

    # -- queries ---------------------------------------------------------------------

    def parts(self, lead_id: str) -> LeadParts | None:
        """What is known of a lead, or None for a lead never seen."""
        lead = self.leads.get(lead_id)
        position = lead.position() if lead is not None else None
        if lead is None or position is None:
            return None
        changes = tuple(StageChange.model_validate_json(raw) for _, _, raw in lead.changes)
        ruleset = position.ruleset
        if ruleset is None:  # the state does not say; the latest change does
            named = [c for c in changes if c.sequence == position.sequence]
            ruleset = (named[0].ruleset.name, named[0].ruleset.version) if named else None
        state = _state(lead.state) if lead.state is not None else None
        return LeadParts(
            lead_id=lead_id,
            stage=position.stage,
            since=position.since,
            sequence=position.sequence,
            disqualification_reason=position.disqualification_reason,
            ruleset=ruleset,
            state=state,
            changes=changes,
        )

    def recent_changes(self, limit: int) -> list[StageChange]:
        """The latest stage changes read, of all leads, newest first."""
        return [StageChange.model_validate_json(raw) for raw in list(self.recent)[:limit]]

    def stage_counts(self) -> dict[str, int]:
        """Leads by current stage."""
        return {stage: self.counts[stage] for stage in STAGES}

    def reached_counts(self) -> dict[str, int]:
        """Leads that reached sql and sqo, as far as the records read show."""
        return {stage: len(leads) for stage, leads in self.reached.items()}


def lookup(replica: Replica, rules: Ruleset, lead_id: str) -> dict[str, Any] | None:
    """The body of GET /leads/{lead_id}: stage, scores now, last changes and what the next
    stage still needs (computed by the core from the lead's state with `rules`)."""
    parts = replica.parts(lead_id)
    if parts is None:
        return None
    state = parts.state
    if state is not None:
        at_ms = state.clock_ms if rules.time_dependent else None
        scores: dict[str, float] = View(rules, state, at_ms).scores()
    elif parts.changes:
        scores = dict(parts.changes[0].scores)
    else:
        scores = {}
    name, version = parts.ruleset or (rules.name, rules.version)
    step = explain_next(rules, state) if state is not None else None
    return {
        "lead_id": parts.lead_id,
        "stage": parts.stage,
        "since": parts.since,
        "sequence": parts.sequence,
        "scores": scores,
        "ruleset": {"name": name, "version": version},
        "disqualification_reason": parts.disqualification_reason,
        "changes": list(parts.changes),
        "next": None
        if step is None
        else {
            "stage": step.stage,
            "met": [{"rule": r.rule, "description": r.description} for r in step.met],
            "missing": [{"rule": r.rule, "description": r.description} for r in step.missing],
        },
    }


def _set_state(lead: _Lead, value: bytes | None, position: _Position | None) -> None:
    lead.state = value
    lead.from_state = position


def _set_stages(lead: _Lead, position: _Position | None) -> None:
    lead.from_stages = position


def _add_change(lead: _Lead, change: StageChange, raw: bytes) -> None:
    lead.changes.append((change.sequence, change.change_id, raw))
    lead.changes.sort(key=lambda item: item[0], reverse=True)
    del lead.changes[MAX_CHANGES:]
    if lead.changes[0][1] == change.change_id:
        lead.from_change = _change_position(change)


def _change_position(change: StageChange) -> _Position:
    return _Position(
        sequence=change.sequence,
        stage=change.to_stage,
        since=change.occurred_at,
        disqualification_reason=change.disqualification_reason,
        ruleset=(change.ruleset.name, change.ruleset.version),
    )


def _lead_key(key: bytes | None) -> str:
    if not key:
        raise BadRecord("no key: records are keyed by lead id")
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRecord("the key is not UTF-8") from None


def _json_object(value: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise BadRecord("not JSON") from None
    if not isinstance(body, dict):
        raise BadRecord("not a JSON object")
    return body


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} is not an integer")
    return value


def _optional_text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


def _state(raw: bytes) -> LeadState | None:
    """A lead's state from its changelog value (None if it cannot be read: the lookup then
    goes without what the state tells)."""
    try:
        return LeadState.from_dict(orjson.loads(raw))
    except (KeyError, TypeError, ValueError, AttributeError, orjson.JSONDecodeError):
        return None


def _stage(value: Any) -> Stage:
    if value not in _STAGE_NAMES:
        raise ValueError(f"{value!r} is not a stage")
    stage: Stage = value
    return stage
