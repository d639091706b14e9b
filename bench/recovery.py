"""Recovery: a fresh worker restores N leads of state from its changelog and resumes."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import OffsetWatch, cpu_s, say, vm_hwm_mb
from bench.preload import send_fast
from bench.worker import launch
from schemas.decode import Rejection, TopicKind, decode
from streams.core.events import StageChanged
from streams.core.qualify import ANONYMOUS_PREFIX, Qualifier
from streams.core.replay import replay_stream
from streams.core.ruleset import load_ruleset
from streams.core.state import LeadState
from streams.settings import Settings
from streams.tools.expected import valid_events
from streams.tools.simulate.event import SimEvent
from streams.worker.codec import encode_state, to_lead_event
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.launch import output_tail
from streams.worker.topics import TopicNames, ensure_topics

READY_TIMEOUT_S = 600.0  # 1,000,000 leads: 115-145 s per message, about 8 s in bulk
PROBE_TIMEOUT_S = 120.0  # the probe's stage change normally follows the ready line in < 1 s


@dataclass(frozen=True)
class Probe:
    """One new event for an existing lead and the stage change only its restored state gives."""

    kind: TopicKind
    lead_id: str
    value: dict[str, Any]
    expected: StageChanged

    @property
    def event_id(self) -> str:
        """The probe event's id (the expected change's trigger)."""
        return str(self.value["event_id"])


@dataclass(frozen=True)
class RecoveryResult:
    """How long a fresh worker took to restore the state and resume, and its memory."""

    leads: int
    changelog_bytes: int
    write_s: float
    ready_s: float
    resume_s: float
    peak_rss_mb: float | None
    store: str
    ready_cpu_s: float | None = None  # the worker's CPU seconds until its ready line

    @property
    def restore_rate(self) -> float:
        """Leads restored per second (until the worker's ready line)."""
        return self.leads / self.ready_s if self.ready_s > 0 else 0.0


def clone_id(index: int, width: int) -> str:
    """A lead id for the index-th synthesised lead, `width` characters long (as the template's)."""
    digits = max(7, width - 1)
    return f"r{index:0{digits}d}"


def synthesise(templates: Sequence[tuple[str, bytes]], count: int) -> Iterator[tuple[str, bytes]]:
    """`count` (lead id, encoded state) pairs: the templates' real states under new lead ids.

    A template's lead id occurs in its key and in its event ids ("{lead_id}-{n}"), so the
    clone's state has the template's size and shape.
    """
    for index in range(count):
        lead_id, raw = templates[index % len(templates)]
        new_id = clone_id(index, len(lead_id))
        yield new_id, raw.replace(lead_id.encode(), new_id.encode())


def templates_of(states: dict[str, LeadState]) -> list[tuple[str, bytes]]:
    """Encoded real lead states (anonymous visitors left out), in a stable order."""
    return [
        (key, encode_state(state))
        for key, state in sorted(states.items())
        if not key.startswith(ANONYMOUS_PREFIX)
    ]


def offline_states(events: Sequence[SimEvent], rules: str = "default") -> dict[str, LeadState]:
    """The lead states the simulated events leave, replayed through the core without Kafka
    (in event-time order; the throughput runs' states differ only where topics interleave)."""
    valid, _ = valid_events((e.kind, e.value) for e in events)
    return replay_stream(Qualifier(load_ruleset(rules)), valid).states


_PROBE_EVENTS: tuple[tuple[TopicKind, dict[str, Any]], ...] = (
    ("call", {"type": "meeting_held", "properties": {"kind": "demo", "duration_s": 1800}}),
    (
        "call",
        {
            "type": "call_completed",
            "properties": {
                "direction": "outbound",
                "duration_s": 1200,
                "outcome": "connected",
                "disposition": "opportunity_accepted",
                "topics": ["budget", "timeline", "proposal"],
            },
        },
    ),
)


def find_probe(qualifier: Qualifier, templates: Sequence[tuple[str, bytes]], count: int) -> Probe:
    """A lead (among the first `count` clones) and an event that moves it from sql to sqo.

    The change's sequence continues the restored state's, so a worker that lost the state
    (and starts the lead from scratch) cannot produce the same change.
    """
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    for index in range(min(count, len(templates))):
        template_id, raw = templates[index]
        state_dict = orjson.loads(raw)
        if state_dict["stage"] != "sql":
            continue
        lead_id = clone_id(index, len(template_id))
        state = LeadState.from_dict(
            orjson.loads(raw.replace(template_id.encode(), lead_id.encode()))
        )
        for kind, body in _PROBE_EVENTS:
            value = {
                **body,
                "event_id": f"{lead_id}-probe",
                "lead_id": lead_id,
                "occurred_at": now,
                "source": "bench",
            }
            decoded = decode(kind, orjson.dumps(value))
            if isinstance(decoded, Rejection):
                raise ValueError(f"probe event rejected: {decoded}")
            event = to_lead_event(decoded)
            _, changes = qualifier.apply(state, event)
            # A lead started from scratch would emit sequence 1 (lead -> ...) instead.
            if changes and changes[0].from_stage == "sql" and changes[0].sequence > 1:
                return Probe(kind, lead_id, value, changes[0])
    raise ValueError("no template lead in stage sql to probe recovery with")


async def write_changelog(
    settings: Settings, templates: Sequence[tuple[str, bytes]], leads: int
) -> tuple[float, int]:
    """Write `leads` synthesised states into the worker's changelog; (seconds, bytes)."""
    changelog = TopicNames.of(settings).changelog
    size = 0

    def records() -> Iterator[tuple[str, bytes | None, bytes]]:
        nonlocal size
        for lead_id, raw in synthesise(templates, leads):
            size += len(raw)
            yield changelog, lead_id.encode(), raw

    seconds = await send_fast(settings, records(), leads, "recovery changelog")
    return seconds, size


async def run_recovery(
    settings: Settings, states: dict[str, LeadState], leads: int, data_dir: Path
) -> RecoveryResult:
    """Fill a fresh deployment's changelog with `leads` states, then time a new worker.

    Resumed means: the worker printed its ready line (after restoring the table) and the
    stage change that a new event for a restored lead causes is readable, with the
    sequence that only the restored state gives.
    """
    settings = settings.model_copy(update={"data_dir": data_dir})
    await ensure_topics(settings)
    templates = templates_of(states)
    if not templates:
        raise ValueError("no lead states to synthesise the changelog from")
    probe = find_probe(Qualifier(load_ruleset(settings.rules)), templates, leads)
    write_s, size = await write_changelog(settings, templates, leads)
    say(f"recovery: changelog holds {leads:,} leads ({size / 1e6:,.0f} MB); starting a worker")
    launched = await launch(settings, ready_timeout=READY_TIMEOUT_S)
    ready_cpu = cpu_s(launched.pid)
    try:
        say(f"recovery: worker ready after {launched.startup_s:.1f}s; sending a probe event")
        await _send_probe(settings, probe)
        try:
            await _wait_for_change(settings, probe, PROBE_TIMEOUT_S)
        except TimeoutError as exc:
            groups = (settings.worker_group, settings.ingest_group)
            async with OffsetWatch(settings) as watch:
                committed = await watch.committed(*groups)
            offsets = ", ".join(f"{tp.topic}[{tp.partition}]={o}" for tp, o in committed.items())
            raise TimeoutError(
                f"{exc}; committed offsets of {groups}: {offsets or 'none'}; "
                + output_tail(launched.worker)
            ) from None
        resumed_at = time.monotonic()
        peak = vm_hwm_mb(launched.pid)
    finally:
        await launched.worker.stop()
    return RecoveryResult(
        leads=leads,
        changelog_bytes=size,
        write_s=write_s,
        ready_s=launched.startup_s,
        resume_s=resumed_at - launched.spawned_at,
        peak_rss_mb=peak,
        store=settings.store,
        ready_cpu_s=ready_cpu,
    )


async def _send_probe(settings: Settings, probe: Probe) -> None:
    producer = AIOKafkaProducer(**kafka_client_kwargs(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic(f"leads.{probe.kind}"),
            orjson.dumps(probe.value),
            key=probe.lead_id.encode(),
        )
    finally:
        await producer.stop()


async def _wait_for_change(settings: Settings, probe: Probe, timeout: float) -> None:
    """Read the stage changes until the probe's arrives; check it is the expected one.

    The dead letters are read too: a rejected probe fails at once, with the reason.
    """
    names = TopicNames.of(settings)
    consumer = AIOKafkaConsumer(
        names.stage_changes,
        names.dead_letter,
        **kafka_client_kwargs(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, messages in batch.items():
                for message in messages:
                    change = orjson.loads(message.value)
                    if tp.topic == names.dead_letter:
                        if probe.event_id in str(change.get("value")):
                            raise AssertionError(f"the probe event was dead-lettered: {change}")
                        continue
                    if change["trigger_event_id"] != probe.event_id:
                        continue
                    want = probe.expected
                    got = (change["lead_id"], change["sequence"], change["from_stage"])
                    if got != (want.lead_id, want.sequence, want.from_stage):
                        raise AssertionError(
                            f"the restored worker emitted {got} for the probe event, expected "
                            f"{(want.lead_id, want.sequence, want.from_stage)}: state was lost"
                        )
                    return
        raise TimeoutError(f"no stage change for the probe event within {timeout:g}s")
    finally:
        await consumer.stop()
