"""One destination's deliveries: per-lead tasks, retries, dead letters, the 410 switch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from tenacity import AsyncRetrying, retry_if_exception_type

from streams.alerts.backoff import Attempt, RetryAfterOrBackoff, TryAgain, Verdict, give_up_at
from streams.alerts.config import Target
from streams.alerts.metrics import AlertMetrics
from streams.alerts.queues import LeadQueues
from streams.alerts.routing import AlertEvent, GiveUpReason, dead_letter_value
from streams.alerts.send import Sender, body_of
from streams.worker.failstop import stop_now

log = logging.getLogger(__name__)

# Writes one dead letter (key, value) and returns once Kafka has acknowledged it.
DeadLetterSink = Callable[[bytes, bytes], Awaitable[None]]


@dataclass(eq=False)
class Received:
    """A record read from Kafka, and how many of its destinations are not finished yet."""

    tp: TopicPartition
    offset: int
    timestamp_ms: int  # the record's Kafka timestamp: when the change was written
    event: AlertEvent
    remaining: int = 0


class _Disabled(Exception):
    """Raised instead of an attempt once the destination is disabled."""


@dataclass
class _Tries:
    count: int = 0
    first_at: datetime | None = None
    last: Attempt | None = None


@dataclass
class Lane:
    """Delivers records to one destination: per lead in the order they were added, leads
    independently of each other, at most `concurrency` requests at once.

    `finished(record)` is called once the record is delivered or dead-lettered here.
    """

    target: Target
    sender: Sender
    dead_letter: DeadLetterSink
    metrics: AlertMetrics
    finished: Callable[[Received], None]
    clock: Callable[[], float]
    disabled: bool = False
    queues: LeadQueues[Received] = field(default_factory=LeadQueues)
    runners: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.target.rules.concurrency)
        self.name = self.target.name

    def add(self, record: Received) -> None:
        """Queue a record behind its lead's earlier ones (or start on it)."""
        self.metrics.waiting.labels(self.name).inc()
        if self.queues.add(record.event.lead_id, record):
            self._start(record.event.lead_id)

    def _start(self, lead: str) -> None:
        self.runners[lead] = asyncio.create_task(self._run(lead), name=f"alerts:{self.name}")

    async def _run(self, lead: str) -> None:
        record = self.queues.head(lead)
        while record is not None:
            try:
                await self._deliver(record)
            except Exception as exc:  # a bug: stop uncommitted rather than lose the record
                stop_now(f"delivering {record.event.webhook_id} to {self.name} failed: {exc!r}")
            self.metrics.waiting.labels(self.name).dec()
            self.finished(record)
            record = self.queues.pop(lead)
        if self.runners.get(lead) is asyncio.current_task():
            del self.runners[lead]

    async def drop(self, selected: Callable[[Received], bool]) -> None:
        """Stop working on the selected records and forget them (partitions revoked); the
        leads' other records go on."""
        before = len(self.queues)
        beheaded = self.queues.discard(selected)
        self.metrics.waiting.labels(self.name).dec(before - len(self.queues))
        stopped = [task for lead in beheaded if (task := self.runners.pop(lead, None))]
        await _cancelled(stopped)
        for lead in beheaded:
            if self.queues.head(lead) is not None:
                self._start(lead)

    async def close(self) -> None:
        """Stop every delivery now (the records stay unfinished: read again later)."""
        tasks = list(self.runners.values())
        self.runners.clear()
        await _cancelled(tasks)

    async def _deliver(self, record: Received) -> None:
        event, tries = record.event, _Tries()
        if self.disabled:
            await self._give_up(record, "disabled", tries)
            return
        try:
            body = body_of(self.target, event)
        except (TypeError, ValueError) as exc:  # a record whose fields cannot be shown
            tries.last = Attempt(None, f"cannot build the message: {exc}")
            await self._give_up(record, "rejected", tries)
            return
        rules = self.target.rules
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TryAgain),
            wait=RetryAfterOrBackoff(rules.backoff / 1000, rules.backoff_max / 1000),
            stop=give_up_at(
                record.timestamp_ms / 1000 + self.target.max_age_s,
                self.clock,
                lambda: self.disabled,
            ),
            before_sleep=self._retrying,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    result = await self._attempt(event, body, tries)
                    if result.verdict is Verdict.RETRY:
                        raise TryAgain(result)
        except TryAgain:
            await self._give_up(record, "disabled" if self.disabled else "expired", tries)
            return
        except _Disabled:
            await self._give_up(record, "disabled", tries)
            return
        assert tries.last is not None
        verdict = tries.last.verdict
        if verdict is Verdict.DELIVERED:
            self.metrics.deliveries.labels(self.name, "delivered").inc()
            waited = max(0.0, self.clock() - record.timestamp_ms / 1000)
            self.metrics.delivery_seconds.labels(self.name).observe(waited)
        elif verdict is Verdict.GONE:
            self._disable()
            await self._give_up(record, "gone", tries)
        else:
            await self._give_up(record, "rejected", tries)

    async def _attempt(self, event: AlertEvent, body: bytes, tries: _Tries) -> Attempt:
        async with self.slots:
            # A 410 may have come while this waited for its slot: then nothing more is sent.
            if self.disabled:
                raise _Disabled
            if tries.first_at is None:
                tries.first_at = datetime.now(UTC)
            tries.count += 1
            tries.last = await self.sender.attempt(self.target, event, body)
            return tries.last

    def _retrying(self, retry_state: Any) -> None:
        self.metrics.retries.labels(self.name).inc()

    def _disable(self) -> None:
        if self.disabled:
            return
        self.disabled = True
        self.metrics.disabled.labels(self.name).set(1)
        log.error(
            "destination %s answered 410 Gone: it is disabled until the service restarts;"
            " what it would have received goes to the alerts dead-letter topic",
            self.name,
        )

    async def _give_up(self, record: Received, reason: GiveUpReason, tries: _Tries) -> None:
        last = tries.last
        last_error = last.error if last is not None else None
        letter = dead_letter_value(
            destination=self.name,
            event=record.event,
            source_topic=record.tp.topic,
            reason=reason,
            attempts=tries.count,
            last_status=last.status if last is not None else None,
            last_error=last_error,
            first_attempt_at=tries.first_at,
            gave_up_at=datetime.now(UTC),
        )
        await self.dead_letter(record.event.lead_id.encode(), letter)
        self.metrics.deliveries.labels(self.name, reason).inc()
        if reason != "disabled":
            log.warning(
                "destination %s: gave up on %s (%s) after %d attempt(s): %s",
                self.name,
                record.event.webhook_id,
                reason,
                tries.count,
                last_error,
            )


async def _cancelled(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
