"""Expected stage changes for a recorded input, computed by the pure core without Kafka."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from schemas.decode import Rejection, TopicKind, decode
from streams.core.events import LeadEvent, Stage, StageChanged
from streams.core.qualify import Qualifier
from streams.core.replay import replay_stream
from streams.core.ruleset import Ruleset
from streams.worker.codec import to_lead_event

LEGAL_TRANSITIONS = frozenset(
    {
        ("lead", "sql"),
        ("sql", "sqo"),
        ("lead", "disqualified"),
        ("sql", "disqualified"),
        ("sqo", "disqualified"),
        # Only where the ruleset allows it: re-qualification and demotion on decay.
        ("disqualified", "sql"),
        ("sql", "lead"),
    }
)


@dataclass(frozen=True)
class Reference:
    """Per lead: the changes and final stage the rules warrant for the input, in that order;
    `rejected` counts input messages and events the core refused (e.g. too late)."""

    changes: dict[str, list[StageChanged]]
    final: dict[str, Stage]
    rejected: int


def valid_events(
    messages: Iterable[tuple[TopicKind, dict[str, object] | bytes]],
) -> tuple[list[LeadEvent], int]:
    """The input's valid events (in input order) and the count of rejected messages."""
    events: list[LeadEvent] = []
    rejected = 0
    for kind, value in messages:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        decoded = decode(kind, raw)
        if isinstance(decoded, Rejection):
            rejected += 1
        else:
            events.append(to_lead_event(decoded))
    return events, rejected


def reference(
    rules: Ruleset, messages: Iterable[tuple[TopicKind, dict[str, object] | bytes]]
) -> Reference:
    """Replay the input, in the order given, through the core as the workers route it
    (visitors' history handed to the lead they are identified as). Time-driven changes
    (demotion) come only as far as the events' own time reaches: timers are not modelled."""
    events, rejected = valid_events(messages)
    replay = replay_stream(Qualifier(rules), events)
    final = {k: s.stage for k, s in replay.leads().items()}
    return Reference(replay.changes, final, rejected + len(replay.rejections))


def illegal_sequences(records: Iterable[dict[str, object]]) -> list[str]:
    """Problems in emitted stage changes: gaps, wrong from_stage, illegal transitions."""
    by_lead: dict[str, list[dict[str, object]]] = {}
    for record in records:
        by_lead.setdefault(str(record["lead_id"]), []).append(record)
    problems = []
    for lead_id, changes in by_lead.items():
        unique = {int(str(c["sequence"])): c for c in changes}
        stage = "lead"
        for seq in range(1, len(unique) + 1):
            change = unique.get(seq)
            if change is None:
                problems.append(f"{lead_id}: sequence {seq} missing")
                break
            pair = (str(change["from_stage"]), str(change["to_stage"]))
            if pair[0] != stage or pair not in LEGAL_TRANSITIONS:
                problems.append(f"{lead_id}: illegal {pair[0]} -> {pair[1]} after {stage}")
            stage = pair[1]
    return problems


def final_stages(records: Iterable[dict[str, object]]) -> dict[str, str]:
    """The last stage of each lead in emitted stage changes (by sequence)."""
    best: dict[str, tuple[int, str]] = {}
    for record in records:
        lead_id, seq = str(record["lead_id"]), int(str(record["sequence"]))
        if lead_id not in best or seq > best[lead_id][0]:
            best[lead_id] = (seq, str(record["to_stage"]))
    return {lead_id: stage for lead_id, (_, stage) in best.items()}
