"""Hostile input end to end: >= 10,000 fuzzed messages interleaved with simulated traffic.

The fuzzed messages come from the Hypothesis strategies of ``tests.support.fuzz_messages``, drawn
deterministically (``corpus_rounds``: Hypothesis' engine with a fixed seed, no database), so
every run sends the same bytes in the same order. Whether leadq must accept a message is
what ``schemas.decode.decode`` says about its bytes.

The worker must not crash or stall; every rejected message must be in the dead letters
exactly once, with its reason and its source topic, partition and offset; every accepted
message must reach the qualifier (the internal events-by-lead topic), and the stage
changes must end where the pure core, replaying the accepted events, says they end.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import MessageSizeTooLargeError

from schemas.decode import Rejection
from schemas.outputs import DeadLetter
from streams.core.ruleset import load_ruleset
from streams.settings import Settings
from streams.tools.expected import final_stages, illegal_sequences, reference
from streams.tools.simulate.traffic import generate
from streams.worker.codec import rekeyed_event_ids
from streams.worker.ingest import judge
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.launch import WorkerProcess
from streams.worker.topics import INPUT_TOPICS, TopicNames
from tests.support.fuzz_messages import (
    BROKER_SAFE_VALUE_BYTES,
    CATEGORIES,
    NOT_AFTER_MS,
    FuzzMessage,
    make_message,
    near_the_future_cutoff,
)
from tests.support.hostile_corpus import FUZZ_SEED, ROUNDS, drawing
from tests.support.kafka import running_workers

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SIM_LEADS = 150  # about 1,600 simulated website, email and call events
SIM_SEED = 23
# Producer request limit for the test's producer: the broker (message.max.bytes, about
# 1 MiB by default) is then what refuses a value that is too large.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
WAIT_S = 60.0
DRAW_TIMEOUT_S = 240.0
MEBIBYTE = 1024 * 1024


@dataclass(frozen=True)
class Sent:
    """A produced message and where the broker put it."""

    category: str  # a fuzz category, or "simulated"
    message: FuzzMessage
    topic: str
    partition: int
    offset: int

    @property
    def coordinates(self) -> tuple[str, int, int]:
        return self.topic, self.partition, self.offset


def event_id(message: FuzzMessage) -> str:
    """The id the qualifier knows an accepted message by."""
    judged = judge(message.kind, message.value, NOT_AFTER_MS)
    assert not isinstance(judged, Rejection)
    return judged.event.event_id


def simulated(leads: int, seed: int) -> list[tuple[str, FuzzMessage]]:
    """Simulated website, email and call events (profile facts count from when they are
    processed, so they would make the final stages depend on the interleaving)."""
    return [
        (
            "simulated",
            make_message(e.kind, e.key.encode() if e.key else None, orjson.dumps(e.value)),
        )
        for e in generate(leads, seed=seed)
        if e.kind != "profile"
    ]


def without_repeated_event_ids(
    corpus: Iterable[tuple[str, FuzzMessage]], seen: set[str]
) -> list[tuple[str, FuzzMessage]]:
    """Drop accepted messages whose event id an earlier one had (``seen``, updated): which
    of two events with one id counts depends on the processing order."""
    out = []
    for category, message in corpus:
        if near_the_future_cutoff(message):  # accepted or not depending on when it is read
            continue
        if message.expected_valid:
            eid = event_id(message)
            if eid in seen:
                continue
            seen.add(eid)
        out.append((category, message))
    return out


def interleave(
    first: Sequence[tuple[str, FuzzMessage]],
    second: Sequence[tuple[str, FuzzMessage]],
    rng: random.Random,
) -> list[tuple[str, FuzzMessage]]:
    """Merge two lists at random, keeping the order within each."""
    out: list[tuple[str, FuzzMessage]] = []
    i = j = 0
    while i < len(first) or j < len(second):
        left, right = len(first) - i, len(second) - j
        if rng.random() * (left + right) < left:
            out.append(first[i])
            i += 1
        else:
            out.append(second[j])
            j += 1
    return out


class Producer:
    """The test's producer: idempotent, acks from all replicas, 4 MiB requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = AIOKafkaProducer(
            **kafka_client_kwargs(settings),
            acks="all",
            enable_idempotence=True,
            max_request_size=MAX_REQUEST_BYTES,
            linger_ms=5,
        )

    async def __aenter__(self) -> Producer:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send_all(self, plan: Sequence[tuple[str, FuzzMessage]]) -> list[Sent]:
        """Send the messages in order; wait for every acknowledgement."""
        pending = [
            await self.producer.send(
                self.settings.topic(INPUT_TOPICS[m.kind]), key=m.key, value=m.value
            )
            for _, m in plan
        ]
        metadata = await asyncio.gather(*pending)
        return [
            Sent(category, message, md.topic, md.partition, md.offset)
            for (category, message), md in zip(plan, metadata, strict=True)
        ]


def worker_tail(worker: WorkerProcess, lines: int = 40) -> str:
    return "\n".join(worker.lines[-lines:])


async def read_topic(
    settings: Settings,
    topic: str,
    done: Callable[[list[Any]], bool],
    worker: WorkerProcess,
    timeout: float = WAIT_S,
    settle_s: float = 0.0,
) -> tuple[list[Any], bool]:
    """Records of a full topic name from the start until ``done`` (or timeout): (records,
    whether done held). Fails at once when the worker process exits."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_client_kwargs(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * MEBIBYTE,
        fetch_max_bytes=64 * MEBIBYTE,
    )
    await consumer.start()
    records: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    settle_until: float | None = None
    try:
        while True:
            if worker.proc.returncode is not None:
                raise AssertionError(
                    f"the worker exited with code {worker.proc.returncode} while {topic} had "
                    f"{len(records)} records; its last output:\n{worker_tail(worker)}"
                )
            now = loop.time()
            if settle_until is not None and now >= settle_until:
                return records, True
            if now >= deadline:
                return records, False
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
            if settle_until is None and done(records):
                if settle_s <= 0:
                    return records, True
                settle_until = loop.time() + settle_s
    finally:
        await consumer.stop()


async def uncommitted(settings: Settings, timeout: float) -> dict[TopicPartition, int]:
    """Partitions with messages a worker group has not all committed (waits): the input
    topics in the ingest group, the events-by-lead topic in faust's group."""
    by_lead = TopicNames.of(settings).events_by_lead
    groups = {
        settings.ingest_group: [
            TopicPartition(settings.topic(name), p)
            for name in INPUT_TOPICS.values()
            for p in range(settings.partitions)
        ],
        settings.worker_group: [TopicPartition(by_lead, p) for p in range(settings.partitions)],
    }
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(settings), group_id=None)
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings))
    await consumer.start()
    await admin.start()
    try:
        ends = await consumer.end_offsets([tp for tps in groups.values() for tp in tps])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            lag: dict[TopicPartition, int] = {}
            for group, partitions in groups.items():
                committed = await admin.list_consumer_group_offsets(group)
                lag |= {
                    tp: ends[tp] - (committed[tp].offset if tp in committed else 0)
                    for tp in partitions
                }
            lag = {tp: n for tp, n in lag.items() if n > 0}
            if not lag or loop.time() >= deadline:
                return lag
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
        await consumer.stop()


def text_or_base64(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def dead_letter_problems(sent: Sent, record: dict[str, Any]) -> list[str]:
    """What is wrong with the dead letter of a rejected message."""
    problems = []
    where = f"{sent.category} message at {sent.coordinates}"
    try:
        DeadLetter.model_validate(record)
    except Exception as exc:  # the contract's record type
        problems.append(f"{where}: dead letter does not match the contract: {exc}")
    rejection = judge(sent.message.kind, sent.message.value, NOT_AFTER_MS)
    assert isinstance(rejection, Rejection)
    error = record.get("error") or {}
    if error.get("code") != rejection.code:
        problems.append(f"{where}: code {error.get('code')!r}, expected {rejection.code!r}")
    if not isinstance(error.get("message"), str) or not error["message"].strip():
        problems.append(f"{where}: no error message")
    key = sent.message.key
    want_key = None if key is None else text_or_base64(key)[0]
    if record.get("key") != want_key:
        problems.append(f"{where}: key {record.get('key')!r:.80}, expected {want_key!r:.80}")
    raw = sent.message.value or b""
    stored = record.get("value", "")
    is_base64 = record.get("value_encoding") == "base64"
    stored_bytes = base64.b64decode(stored) if is_base64 else stored.encode("utf-8")
    if record.get("value_truncated"):  # a contract extension for values too large to keep
        if not raw.startswith(stored_bytes):
            problems.append(f"{where}: truncated value is not a prefix of the original")
    elif stored_bytes != raw or is_base64 != text_or_base64(raw)[1]:
        problems.append(f"{where}: value differs from the original ({len(raw)} bytes)")
    return problems


class InputCount:
    """How many events in records of the re-key topic are re-keyed input (not hand-overs),
    counted incrementally over a growing list of records."""

    def __init__(self) -> None:
        self.read = 0
        self.inputs = 0

    def __call__(self, records: list[Any]) -> int:
        for record in records[self.read :]:
            self.inputs += len(rekeyed_event_ids(record.value, inputs_only=True))
        self.read = len(records)
        return self.inputs


async def test_ten_thousand_hostile_messages_never_stop_the_worker(settings: Settings) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - started - sum(timings.values()), 1)

    # Hypothesis draws the corpus in a process of its own, from the start of the session
    # (or else from here on, while the worker starts); see tests/support/hostile_corpus.py.
    # Each part is sent mixed with its share of the simulated traffic.
    corpus = asyncio.wrap_future(drawing())
    sim = simulated(SIM_LEADS, SIM_SEED)
    plan: list[tuple[str, FuzzMessage]] = []
    sent: list[Sent] = []
    seen_ids: set[str] = set()
    fuzzed = 0
    async with running_workers(settings) as [worker], Producer(settings) as producer:
        lap("worker start")
        parts = await asyncio.wait_for(corpus, DRAW_TIMEOUT_S)
        lap("drawing")
        for index, part in enumerate(parts):
            unique = without_repeated_event_ids(part, seen_ids)
            fuzzed += len(unique)
            share = sim[len(sim) * index // ROUNDS : len(sim) * (index + 1) // ROUNDS]
            mixed = interleave(unique, share, random.Random(FUZZ_SEED + index))
            plan.extend(mixed)
            sent.extend(await producer.send_all(mixed))
        lap("producing")
        counts = collections.Counter((c, m.expected_valid) for c, m in plan)
        print(f"\nmessages: {len(plan)} ({fuzzed} fuzzed)")
        for (category, accepted), n in sorted(counts.items()):
            print(f"  {category:18s} {'accepted' if accepted else 'rejected':8s} {n:6d}")
        assert fuzzed >= 10_000
        assert {c for c, _ in plan} >= set(CATEGORIES)

        valid = [m for _, m in plan if m.expected_valid]
        ref = reference(load_ruleset(settings.rules), [(m.kind, m.value or b"") for m in valid])
        want_final = {lead: s for lead, s in ref.final.items() if s != "lead"}
        want_ids = collections.Counter(event_id(m) for m in valid)
        lap("reference")

        rejected = {s.coordinates: s for s in sent if not s.message.expected_valid}
        dead_raw, _ = await read_topic(
            settings,
            settings.topic("leads.dead-letter"),
            lambda r: len(r) >= len(rejected),
            worker,
            settle_s=1.0,
        )
        lap("dead letters")
        inputs_rekeyed = InputCount()
        rekeyed_raw, _ = await read_topic(
            settings,
            TopicNames.of(settings).events_by_lead,
            lambda r: inputs_rekeyed(r) >= sum(want_ids.values()),
            worker,
            settle_s=0.5,
        )
        lap("events by lead")
        changes_raw, _ = await read_topic(
            settings,
            settings.topic("leads.stage-changes"),
            lambda r: final_stages(orjson.loads(x.value) for x in r) == want_final,
            worker,
            settle_s=2.0,
        )
        lap("stage changes")
        lag = await uncommitted(settings, timeout=20.0)
        lap("committed offsets")
        exit_code = worker.proc.returncode
        output = list(worker.lines)

    print(f"timings (s): {timings}")

    # The worker is alive and nothing crashed in it.
    assert exit_code is None, "\n".join(output[-40:])
    crashes = [line for line in output if "Crashed" in line or "Traceback" in line]
    assert not crashes, "\n".join(output[-60:])

    # Every rejected message is in the dead letters exactly once, with its reason.
    dead = [orjson.loads(r.value) for r in dead_raw]
    by_coordinates = collections.defaultdict(list)
    for record in dead:
        by_coordinates[(record["source_topic"], record["partition"], record["offset"])].append(
            record
        )
    sent_at = {s.coordinates: s for s in sent}
    unexpected = [
        f"{sent_at[c].category if c in sent_at else '?'} at {c}: {r[0]['error']}"
        for c, r in by_coordinates.items()
        if c not in rejected
    ]
    assert not unexpected, f"{len(unexpected)} accepted messages dead-lettered: {unexpected[:10]}"
    missing = [
        f"{s.category} {s.coordinates}" for c, s in rejected.items() if c not in by_coordinates
    ]
    assert not missing, (
        f"{len(missing)} of {len(rejected)} rejected messages not dead-lettered: {missing[:10]}"
    )
    repeated = [c for c, r in by_coordinates.items() if len(r) > 1]
    assert not repeated, f"dead-lettered more than once: {repeated[:10]}"
    problems = [
        p for c, s in rejected.items() for p in dead_letter_problems(s, by_coordinates[c][0])
    ]
    assert not problems, "\n".join(problems[:20])

    # Every accepted message reached the qualifier, once (besides the records a visitor's
    # key hands over to its lead).
    got_ids = collections.Counter(
        i for r in rekeyed_raw for i in rekeyed_event_ids(r.value, inputs_only=True)
    )
    lost = want_ids - got_ids
    assert not lost, f"{len(lost)} accepted events never reached the qualifier: {list(lost)[:10]}"
    assert got_ids == want_ids

    # The stage changes end where the reference replay of the accepted events ends.
    changes = [orjson.loads(r.value) for r in changes_raw]
    assert illegal_sequences(changes) == []
    assert len({c["change_id"] for c in changes}) == len(changes), "no duplicate changes"
    got_final = final_stages(changes)
    wrong = {
        lead: (got_final.get(lead, "lead"), stage)
        for lead, stage in {**want_final, **got_final}.items()
        if got_final.get(lead, "lead") != want_final.get(lead, "lead")
    }
    assert not wrong, (
        f"final stages (got, want) differ for {len(wrong)} leads: {dict(list(wrong.items())[:10])}"
    )

    # Nothing stalled: the worker committed every input and events-by-lead message.
    assert not lag, f"uncommitted messages per partition: {lag}"


async def test_values_at_the_broker_limit(settings: Settings) -> None:
    """1 MiB does not fit the broker's default message.max.bytes: the producer is told so
    and leadq never sees it. The largest value the broker accepts reaches leadq, which
    rejects it as too_large without holding up the messages behind it; so do values whose
    dead letters grow on the way (base64 of binary, "\\u0000" for each NUL byte)."""
    big = [
        make_message("call", b"big-ascii", b"y" * BROKER_SAFE_VALUE_BYTES),
        make_message("email", b"big-binary", b"\xff" * 800_000),
        make_message("website", b"nul", b"\x00" * 200_000),
    ]
    follow = [
        make_message(
            m.kind,
            m.key,
            orjson.dumps(
                {
                    "event_id": f"after-{m.kind}",
                    "lead_id": f"after-{m.kind}",
                    "type": {"call": "meeting_held", "email": "email_opened"}.get(
                        m.kind, "page_view"
                    ),
                    "occurred_at": "2026-03-01T10:00:00Z",
                    "properties": {"kind": "demo", "url": "https://example.com/"},
                }
            ),
        )
        for m in big
    ]
    assert all(not m.expected_valid for m in big)
    assert all(m.expected_valid for m in follow)
    async with running_workers(settings) as [worker]:
        huge = b"x" * MEBIBYTE
        producer = AIOKafkaProducer(**kafka_client_kwargs(settings), acks="all")
        await producer.start()
        try:  # the client's own limit (max_request_size, 1 MiB by default) comes first
            with pytest.raises(MessageSizeTooLargeError):
                await producer.send_and_wait(settings.topic("leads.website"), huge)
        finally:
            await producer.stop()
        with pytest.raises(MessageSizeTooLargeError):  # then the broker's
            async with Producer(settings) as raised_limit:
                await raised_limit.send_all([("large", make_message("website", b"huge", huge))])

        async with Producer(settings) as test_producer:
            sent = await test_producer.send_all([("large", m) for m in [*big, *follow]])
        dead_raw, _ = await read_topic(
            settings, settings.topic("leads.dead-letter"), lambda r: len(r) >= len(big), worker
        )
        rekeyed_raw, _ = await read_topic(
            settings,
            TopicNames.of(settings).events_by_lead,
            lambda r: sum(len(rekeyed_event_ids(x.value)) for x in r) >= len(follow),
            worker,
        )
    dead = {
        (d["source_topic"], d["partition"], d["offset"]): d
        for d in map(orjson.loads, (r.value for r in dead_raw))
    }
    for s in sent[: len(big)]:
        assert s.coordinates in dead, f"no dead letter for {len(s.message.value or b'')} bytes"
        assert dead_letter_problems(s, dead[s.coordinates]) == []
    rekeyed = {i for r in rekeyed_raw for i in rekeyed_event_ids(r.value)}
    assert rekeyed == {f"after-{m.kind}" for m in big}
