"""Judging deliveries: what the worker wrote, what a receiver got, and the figures of both."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import Settings
from tests.reliability.harness import Figures
from tests.support.alert_records import signature_ok
from tests.support.alerts import Hit

TIMESTAMP_TOLERANCE_S = 300  # a receiver rejects a webhook-timestamp further off than this


@dataclass(frozen=True)
class Written:
    """One record the worker wrote to leads.stage-changes or leads.sla."""

    id: str  # change_id or sla_event_id: the webhook-id it must be delivered with
    sla: bool
    lead: str
    value: dict[str, Any]
    timestamp_s: float  # the Kafka record timestamp (when the worker wrote it)
    position: tuple[int, int]  # partition, offset

    @property
    def body(self) -> dict[str, Any]:
        """The webhook body it must arrive as (docs/alerts.md)."""
        if self.sla:
            kind, at = f"lead.sla_{self.value['kind']}", self.value["emitted_at"]
        else:
            kind, at = "lead.stage_changed", self.value["occurred_at"]
        return {"type": kind, "timestamp": at, "data": self.value}


# Every version of each id (a record written again after a fault repeats its id).
Outputs = dict[str, list[Written]]


async def read_topic(settings: Settings, topic: str) -> list[Any]:
    """Every record now on a topic (name without the prefix), as aiokafka gives them."""
    name = settings.topic(topic)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_list)
    await admin.start()
    try:
        [described] = await admin.describe_topics([name])
    finally:
        await admin.close()
    parts = [TopicPartition(name, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_list, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        records: list[Any] = []
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend(messages)
        return records
    finally:
        await consumer.stop()


async def read_outputs(settings: Settings) -> Outputs:
    """The stage changes and SLA events on their topics, by id."""
    out: Outputs = defaultdict(list)
    for topic, sla in (("leads.stage-changes", False), ("leads.sla", True)):
        for r in await read_topic(settings, topic):
            value = orjson.loads(r.value)
            wid = str(value["sla_event_id" if sla else "change_id"])
            position = (r.partition, r.offset)
            out[wid].append(
                Written(wid, sla, value["lead_id"], value, r.timestamp / 1000, position)
            )
    return dict(out)


@dataclass
class Answered:
    """When a receiver answered what, per request body (wall clock, at arrival)."""

    log: list[tuple[float, bytes, int]]

    def first(self, wanted: Callable[[int], bool]) -> dict[bytes, float]:
        """Per body, the arrival time of its first request answered with a wanted status."""
        seen: dict[bytes, float] = {}
        for at, body, status in self.log:
            if wanted(status):
                seen.setdefault(body, at)
        return seen

    def longest_wait(self) -> float:
        """The longest time from a body's first failed attempt to its delivery."""
        failed = self.first(lambda s: not ok(s))
        done = self.first(ok)
        waits = [done[b] - at for b, at in failed.items() if b in done]
        return max(waits, default=0.0)


def ok(status: int) -> bool:
    return 200 <= status <= 299


def webhook_id_of(body: bytes) -> str:
    data = orjson.loads(body)["data"]
    return str(data.get("change_id") or data["sla_event_id"])


def recovery_after_outages(
    outages: Sequence[tuple[float, float]], matched: dict[str, list[Written]], answered: Answered
) -> float:
    """The longest time, after a receiver listened again, until every record written
    before that and not yet delivered was delivered."""
    delivered_at: dict[str, float] = {}
    for body, at in answered.first(ok).items():
        wid = webhook_id_of(body)
        delivered_at[wid] = min(at, delivered_at.get(wid, at))
    worst = 0.0
    for _, up in outages:
        pending = [
            wid
            for wid, versions in matched.items()
            if min(v.timestamp_s for v in versions) < up and delivered_at.get(wid, up) >= up
        ]
        if pending:
            worst = max(worst, max(delivered_at.get(wid, up) for wid in pending) - up)
    return worst


@dataclass
class Verdict:
    """What the deliveries to one destination came to."""

    matched: dict[str, list[Written]]
    delivered: list[str]  # ids of the requests answered 2xx, in the order answered
    wrong: int = 0
    notes: list[str] = field(default_factory=list)

    def fault(self, note: str) -> None:
        self.wrong += 1
        self.notes.append(note)


def check_hits(
    secret: str, hits: Sequence[Hit], matched: dict[str, list[Written]], wall_offset: float
) -> Verdict:
    """Every request: signed right (plain hmac, recent timestamp); every 2xx: a matched
    record, its webhook-id and body; per lead and topic, first deliveries in topic order.
    `wall_offset`: time.time() minus the event loop's clock (Hit.at is on the loop's)."""
    verdict = Verdict(matched, [])
    for hit in hits:
        sent = int(hit.headers["webhook-timestamp"])
        if not signature_ok(secret, hit.headers, hit.body):
            verdict.fault(f"bad signature on {hit.headers.get('webhook-id')}")
        elif abs(hit.at + wall_offset - sent) > TIMESTAMP_TOLERANCE_S:
            verdict.fault(f"webhook-timestamp far off on {hit.webhook_id}")
        if not ok(hit.status):
            continue
        verdict.delivered.append(hit.webhook_id)
        versions = matched.get(hit.webhook_id)
        if versions is None:
            verdict.fault(f"delivered {hit.webhook_id}, which the filters do not match")
        elif not any(hit.json == v.body for v in versions):
            verdict.fault(f"body of {hit.webhook_id} differs from the record")
    for lead in out_of_order(matched, verdict.delivered):
        verdict.fault(f"{lead}: first deliveries out of topic order")
    return verdict


def out_of_order(matched: dict[str, list[Written]], delivered: Iterable[str]) -> list[str]:
    """Leads whose records of one topic were first delivered in another order than written."""
    rank = {wid: min(v.position for v in vs) for wid, vs in matched.items()}
    firsts: dict[tuple[str, bool], list[tuple[int, int]]] = defaultdict(list)
    seen: set[str] = set()
    for wid in delivered:
        if wid in seen or wid not in matched:
            continue
        seen.add(wid)
        w = matched[wid][0]
        firsts[(w.lead, w.sla)].append(rank[wid])
    return sorted({lead for (lead, _), ranks in firsts.items() if ranks != sorted(ranks)})


def figures(scenario: str, events: int, faults: int, verdict: Verdict, recover_s: float) -> Figures:
    """A row like the other scenarios': expected = matched records, emitted = delivered."""
    unique = set(verdict.delivered)
    lost = sorted(set(verdict.matched) - unique)
    notes = list(verdict.notes)
    notes += [f"lost: {wid} never delivered" for wid in lost[:5]]
    return Figures(
        scenario=scenario,
        events=events,
        expected=len(verdict.matched),
        emitted=len(verdict.delivered),
        lost=len(lost),
        wrong=verdict.wrong,
        duplicates=len(verdict.delivered) - len(unique),
        recover_s=round(recover_s, 2),
        faults=faults,
        notes=notes,
    )


def gone_figures(
    scenario: str,
    events: int,
    verdict: Verdict,
    letters: Sequence[dict[str, Any]],
    concurrency: int,
) -> Figures:
    """A destination that answered 410: everything it matched is delivered before the 410
    or in the dead letter. expected = matched and not delivered, emitted = dead letters."""
    notes = list(verdict.notes)
    wrong = verdict.wrong
    delivered = set(verdict.delivered)
    owed = set(verdict.matched) - delivered
    lettered = [letter["webhook_id"] for letter in letters]
    for letter in letters:
        wid = letter["webhook_id"]
        versions = verdict.matched.get(wid, [])
        if not any(letter["event"] == v.value for v in versions):
            wrong += 1
            notes.append(f"dead letter {wid}: not a matched record's content")
        if wid in delivered:
            wrong += 1
            notes.append(f"dead letter {wid}: it was delivered")
    # Each request in flight when the receiver turned 410 gets its own 410 (`gone`); what
    # came after was not sent (`disabled`).
    gone = [letter for letter in letters if letter["reason"] == "gone"]
    odd = [
        letter["webhook_id"]
        for letter in letters
        if (letter["reason"], letter["last_status"]) not in (("gone", 410), ("disabled", None))
    ]
    if not 1 <= len(gone) <= concurrency or odd:
        wrong += 1
        notes.append(f"{len(gone)} dead letters for the 410 itself; other reasons for {odd[:5]}")
    lost = sorted(owed - set(lettered))
    notes += [f"lost: {wid} neither delivered nor dead-lettered" for wid in lost[:5]]
    notes.append(
        f"{len(delivered)} delivered before the 410, {len(lettered)} dead-lettered"
        f" ({len(gone)} answered 410, in flight at once) of {len(verdict.matched)} matched"
    )
    return Figures(
        scenario=scenario,
        events=events,
        expected=len(owed),
        emitted=len(lettered),
        lost=len(lost),
        wrong=wrong,
        duplicates=len(verdict.delivered) - len(delivered) + len(lettered) - len(set(lettered)),
        recover_s=0.0,
        faults=1,
        notes=notes,
    )
