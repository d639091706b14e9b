"""Fault-injection harness: a reference from the pure core, faults, and the figures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from bench.common import OffsetWatch, wait_for
from streams.core.events import Stage
from streams.core.ruleset import load_ruleset
from streams.settings import Settings
from streams.tools.expected import final_stages, illegal_sequences, reference
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.output import produce
from streams.tools.simulate.traffic import DEFAULT_START, generate
from streams.worker.launch import WorkerProcess, start_worker
from streams.worker.topics import TopicNames
from tests.support.kafka import collect

FINISH_TIMEOUT_S = 150.0
PROCESSED_TIMEOUT_S = 600.0
STAGE_ORDER: dict[str, int] = {"lead": 0, "sql": 1, "sqo": 2, "disqualified": 3}
# The long run (LEADQ_RELIABILITY=full) or the short one.
FULL = os.environ.get("LEADQ_RELIABILITY", "short") == "full"


@dataclass
class Figures:
    """One scenario's outcome, as printed and written to reports/reliability.json."""

    scenario: str
    events: int
    expected: int
    emitted: int
    lost: int
    wrong: int
    duplicates: int
    recover_s: float
    faults: int = 0
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "notes"}


@dataclass
class Workload:
    """Simulated input and what the rules warrant for it."""

    events: list[SimEvent]
    expected_changes: int
    want_final: dict[str, Stage]
    exact: dict[str, list[tuple[Stage, Stage]]]

    @classmethod
    def simulated(cls, leads: int, seed: int, events: int | None = None) -> Workload:
        """`leads` simulated journeys (several per lead when `events` asks for more)."""
        chosen = _journeys(leads, seed, events)
        return cls.of(chosen)

    @classmethod
    def of(cls, events: list[SimEvent]) -> Workload:
        """The reference for a given input, in the order it is produced."""
        ref = reference(load_ruleset("default"), [(e.kind, e.value) for e in events])
        # Leads whose events all share one topic and one key are read in one order:
        # their exact sequence of changes is known.
        routes: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
        for e in events:
            if e.value.get("lead_id"):
                routes[str(e.value["lead_id"])].add((e.kind, e.key))
        exact = {
            lead: [(c.from_stage, c.to_stage) for c in ref.changes.get(lead, [])]
            for lead, r in routes.items()
            if len(r) == 1
        }
        return cls(
            events=events,
            expected_changes=sum(len(c) for c in ref.changes.values()),
            want_final={k: v for k, v in ref.final.items() if v != "lead"},
            exact=exact,
        )


def _journeys(leads: int, seed: int, events: int | None) -> list[SimEvent]:
    # Profile facts apply from when they are processed, so they are left out here.
    out: list[SimEvent] = []
    round_ = 0
    while True:
        start = DEFAULT_START + timedelta(days=45 * round_)
        for e in generate(leads, seed=seed + round_, start=start):
            if e.kind == "profile":
                continue
            if round_:
                e = SimEvent(
                    e.kind, e.key, {**e.value, "event_id": f"{e.value['event_id']}.{round_}"}
                )
            out.append(e)
        round_ += 1
        if events is None or len(out) >= events:
            break
    out.sort(key=lambda e: (str(e.value["occurred_at"]), str(e.value["event_id"])))
    return out[:events] if events is not None else out


def judge(
    scenario: str, work: Workload, records: Sequence[dict[str, Any]], recover_s: float
) -> Figures:
    """Compare emitted stage changes with the reference."""
    got_final = final_stages(records)
    reached: dict[str, set[str]] = defaultdict(set)
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        reached[r["lead_id"]].add(r["to_stage"])
        versions[r["change_id"]].append({k: v for k, v in r.items() if k != "emitted_at"})
    lost = wrong = 0
    notes: list[str] = []
    for lead, want in work.want_final.items():
        got = got_final.get(lead, "lead")
        if got == want:
            continue
        if want not in reached[lead]:
            lost += 1
            notes.append(f"lost: {lead} expected {want}, got {got}")
        else:
            wrong += 1
            notes.append(f"wrong: {lead} expected {want}, ended {got}")
    for lead, got in got_final.items():
        if lead not in work.want_final:
            wrong += 1
            notes.append(f"wrong: {lead} should have stayed a lead, got {got}")
    illegal = illegal_sequences(records)
    conflicting = [cid for cid, vs in versions.items() if any(v != vs[0] for v in vs)]
    unique = {cid: vs[0] for cid, vs in versions.items()}
    order_errors = []
    for lead, transitions in work.exact.items():
        emitted = sorted(
            (v for v in unique.values() if v["lead_id"] == lead), key=lambda v: v["sequence"]
        )
        if [(v["from_stage"], v["to_stage"]) for v in emitted] != transitions:
            order_errors.append(lead)
    wrong += len(illegal) + len(conflicting) + len(order_errors)
    notes += [f"illegal: {p}" for p in illegal[:5]]
    notes += [f"conflicting content for {cid}" for cid in conflicting[:5]]
    notes += [f"sequence differs for single-route lead {lead}" for lead in order_errors[:5]]
    return Figures(
        scenario=scenario,
        events=len(work.events),
        expected=work.expected_changes,
        emitted=len(records),
        lost=lost,
        wrong=wrong,
        duplicates=len(records) - len(unique),
        recover_s=round(recover_s, 2),
        notes=notes,
    )


async def wait_complete(settings: Settings, work: Workload) -> list[dict[str, Any]]:
    """Read stage changes once every lead's final stage is reached, or else once the
    workers have committed every input and re-keyed event: then whatever is missing was
    lost, not late. (A loaded machine makes workers slow; slow must not count as lost.)"""
    with contextlib.suppress(AssertionError):
        return await collect(
            settings,
            "leads.stage-changes",
            until=lambda r: final_stages(r) == work.want_final,
            timeout=FINISH_TIMEOUT_S,
            settle_s=3.0,
        )
    await wait_all_processed(settings)
    # Processed and committed means the stage changes were acked before: all readable.
    return await read_all(settings)


async def wait_all_processed(settings: Settings) -> None:
    """Until the worker group has committed the end of every input and re-key partition."""
    names = TopicNames.of(settings)
    groups = (settings.worker_group, settings.ingest_group)
    async with OffsetWatch(settings) as watch:
        inputs = await watch.ends(names.inputs.values())
        committed: dict[TopicPartition, int] = {}

        async def processed() -> bool:
            nonlocal committed
            committed = await watch.committed(*groups)
            return await watch.processed(committed, inputs, names.events_by_lead)

        try:
            await wait_for(processed, PROCESSED_TIMEOUT_S, "workers processing", interval=1.0)
        except TimeoutError:
            lag = sum(max(0, end - committed.get(tp, 0)) for tp, end in inputs.items())
            raise AssertionError(
                f"the workers stalled: {lag} input events not committed after "
                f"{FINISH_TIMEOUT_S + PROCESSED_TIMEOUT_S:g} s"
            ) from None


async def read_all(settings: Settings) -> list[dict[str, Any]]:
    """Every record on the stage-change topic now."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = settings.topic("leads.stage-changes")
    [described] = await _describe(settings, [topic])
    parts = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_list, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        records: list[dict[str, Any]] = []
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend(orjson.loads(m.value) for m in messages)
        return records
    finally:
        await consumer.stop()


class Supervisor:
    """Keeps one worker process running, like systemd would, and kills it on request."""

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.worker: WorkerProcess | None = None
        self.recoveries: list[float] = []

    async def start(self) -> WorkerProcess:
        began = time.monotonic()
        self.worker = await start_worker(self.settings, data_dir=self.data_dir)
        self.recoveries.append(time.monotonic() - began)
        return self.worker

    async def kill(self, wipe_state: bool = False) -> None:
        assert self.worker is not None
        await self.worker.stop(sig=9)
        if wipe_state:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()


async def produce_paced(settings: Settings, work: Workload, rate: float) -> None:
    """The input stream at a fixed rate (a background task while faults happen)."""
    await produce(settings, work.events, rate)


async def chaos_kills(
    supervisor: Supervisor,
    kills: int,
    rng: random.Random,
    feeding: asyncio.Task[int],
    wipe_every: int = 3,
) -> int:
    """Kill -9 the worker at random moments and restart it; every `wipe_every`-th restart
    from scratch (its local state deleted)."""
    done = 0
    for i in range(kills):
        # The fault schedule: a random moment, not a wait for some condition.
        await asyncio.sleep(rng.uniform(0.3, 2.5))
        await supervisor.kill(wipe_state=i % wipe_every == wipe_every - 1)
        await supervisor.start()
        done += 1
        if feeding.done() and i >= kills - 1:
            break
    with contextlib.suppress(asyncio.CancelledError):
        await feeding
    return done


async def partition_leaders(settings: Settings, topics: Sequence[str]) -> list[int]:
    """The leader id of every partition of ``topics`` (-1 where there is none)."""
    described = await _describe(settings, topics)
    return [p["leader"] for d in described for p in d["partitions"]]


async def wait_leaders_elsewhere(
    settings: Settings, topics: Sequence[str], node_id: int, timeout: float
) -> None:
    """Wait until every partition of ``topics`` has a leader other than ``node_id``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            leaders = await partition_leaders(settings, topics)
        except KafkaError:  # the client's metadata may still send it to the dead node
            leaders = []
        if leaders and all(leader not in (-1, node_id) for leader in leaders):
            return
        if loop.time() >= deadline:
            raise AssertionError(f"partitions still without a live leader after {timeout} s")
        await asyncio.sleep(0.2)


async def replica_counts(settings: Settings) -> dict[str, set[int]]:
    """For every topic of the deployment (its prefix), the replica counts of its partitions."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_list)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
    finally:
        await admin.close()
    described = await _describe(settings, names)
    return {d["topic"]: {len(p["replicas"]) for p in d["partitions"]} for d in described}


async def _describe(settings: Settings, topics: Sequence[str]) -> list[dict[str, Any]]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_list)
    await admin.start()
    try:
        described: list[dict[str, Any]] = await admin.describe_topics(list(topics))
        return described
    finally:
        await admin.close()
