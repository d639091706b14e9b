"""Delivery fault harness: a real worker's output through `leadq alerts` to faulty receivers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import wait_for
from streams.alerts.launch import start_alerts
from streams.settings import Settings
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.output import produce
from streams.tools.sla_preset import with_sla
from streams.worker.launch import WorkerProcess, start_worker
from streams.worker.topics import SLA, STAGE_CHANGES, ensure_topics
from tests.reliability.delivery_judge import Answered, Written
from tests.reliability.harness import FINISH_TIMEOUT_S, wait_all_processed
from tests.support.alert_records import new_secret
from tests.support.alerts import Receiver, Reply, committed_to_end

# The worker's SQL SLA in these scenarios, and the wall-clock timer of the SLA test.
SLA_WITHIN_S = 3.0
SLA_WARN_BEFORE_S = 1.0
TIMER_INTERVAL_S = 0.2
# After the last input event's time: its SLA instants, a timer round or two, the sends.
SLA_TAIL_S = SLA_WITHIN_S + 2.0
# Quick retries for the scenarios (the defaults wait seconds to minutes). The timeout stays
# well above the pauses of a loaded 2-core machine: an answer that reached the sender after
# its timeout would be delivered again (at least once), which is not the fault under test.
FAST = {"timeout": "5s", "backoff": "50ms", "backoff_max": "500ms"}
# The stalling receiver's destination gives up on an attempt after STALL_TIMEOUT; the
# receiver holds a stalled request longer than that.
STALL_TIMEOUT = "2s"
STALL_HOLD_S = 3.0


class Answers:
    """A receiver's script that answers 200 and logs each request's arrival (wall clock),
    body and answer; subclasses answer some requests with a fault."""

    def __init__(self) -> None:
        self.answered = Answered([])
        self.faults = 0

    def __call__(self, body: bytes, seen: int) -> Reply:
        reply = self.answer(body, seen)
        self.answered.log.append((time.time(), body, reply.status))
        if not 200 <= reply.status <= 299:
            self.faults += 1
        return reply

    def answer(self, body: bytes, seen: int) -> Reply:
        return Reply(200)


def one_in(body: bytes, every: int) -> bool:
    """Whether a body is one of those picked (the same body always is, or never)."""
    return zlib.crc32(body) % every == 0


class ServerErrors(Answers):
    """The first `times` attempts of one body in `every` get a 500 (or a 503)."""

    def __init__(self, every: int = 3, times: int = 2) -> None:
        super().__init__()
        self.every, self.times = every, times

    def answer(self, body: bytes, seen: int) -> Reply:
        if one_in(body, self.every) and seen < self.times:
            return Reply(500 if seen % 2 == 0 else 503)
        return Reply(200)


class Stalls(Answers):
    """The first attempt of one body in `every` gets no answer for `hold_s` (longer than
    the destination's timeout), then a 504 that nobody reads: not taken."""

    def __init__(self, every: int = 6, hold_s: float = STALL_HOLD_S) -> None:
        super().__init__()
        self.every, self.hold_s = every, hold_s

    def answer(self, body: bytes, seen: int) -> Reply:
        if one_in(body, self.every) and seen == 0:
            held = asyncio.Event()
            asyncio.get_running_loop().call_later(self.hold_s, held.set)
            return Reply(504, hold=held)
        return Reply(200)


class RateLimited(Answers):
    """The first attempt of one body in `every` gets 429 with `Retry-After: 1`."""

    RETRY_AFTER_S = 1

    def __init__(self, every: int = 4) -> None:
        super().__init__()
        self.every = every

    def answer(self, body: bytes, seen: int) -> Reply:
        if one_in(body, self.every) and seen == 0:
            return Reply(429, {"Retry-After": str(self.RETRY_AFTER_S)})
        return Reply(200)

    def too_early(self) -> list[float]:
        """Retries that came sooner than Retry-After said (seconds after the 429)."""
        last_429: dict[bytes, float] = {}
        early = []
        for at, body, status in self.answered.log:
            if body in last_429 and at - last_429.pop(body) < self.RETRY_AFTER_S - 0.01:
                early.append(at)
            if status == 429:
                last_429[body] = at
        return early


class GoneAfter(Answers):
    """200 to the first `count` bodies, then 410 Gone to everything."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.taken: set[bytes] = set()

    def answer(self, body: bytes, seen: int) -> Reply:
        if body in self.taken or len(self.taken) < self.count:
            self.taken.add(body)
            return Reply(200)
        return Reply(410)


@dataclass
class Hook:
    """A webhook destination, its filters, its secret and its receiver's script."""

    name: str
    script: Answers
    stages: list[str] | None = None  # None: every stage
    sla: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    secret: str = field(default_factory=new_secret)
    receiver: Receiver | None = None
    outages: list[tuple[float, float]] = field(default_factory=list)  # down, up (wall clock)

    @property
    def env(self) -> str:
        return self.name.upper().replace("-", "_") + "_SECRET"

    @property
    def url(self) -> str:
        assert self.receiver is not None
        return self.receiver.url

    def table(self) -> str:
        """The [[destination]] table of the alerts configuration."""
        values: dict[str, Any] = {
            "name": self.name,
            "kind": "webhook",
            "url": self.url,
            "secret_env": self.env,
            "sla": self.sla,
            **FAST,
            **self.options,
        }
        if self.stages is not None:
            values["stages"] = self.stages
        lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        return "[[destination]]\n" + "\n".join(lines) + "\n"

    def wants(self, record: Written) -> bool:
        """The destination's filters, as docs/alerts.md states them."""
        if record.sla:
            return self.sla
        return self.stages is None or record.value["to_stage"] in self.stages


def live(events: Sequence[SimEvent], start: float, rate: float) -> list[SimEvent]:
    """The events dated when they will be sent: event i at `start + i / rate` (the default
    preset's criteria are timeless, so only their order decides the stage changes)."""
    return [
        SimEvent(
            e.kind,
            e.key,
            {**e.value, "occurred_at": datetime.fromtimestamp(start + i / rate, UTC).isoformat()},
        )
        for i, e in enumerate(events)
    ]


class DeliveryRun:
    """One worker with a short SQL SLA (wall-clock timer), one `leadq alerts` process with a
    destination per hook, and the hooks' receivers on 127.0.0.1."""

    def __init__(self, settings: Settings, folder: Path, hooks: Sequence[Hook]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        rules = folder / "default-quick-sla.toml"
        within, warn = f"{SLA_WITHIN_S:g}s", f"{SLA_WARN_BEFORE_S:g}s"
        rules.write_text(with_sla("default", within, warn), encoding="utf-8")
        self.settings = settings.model_copy(
            update={
                "rules": str(rules),
                "timer_clock": "wall",
                "timer_interval_s": TIMER_INTERVAL_S,
            }
        )
        self.folder = folder
        self.hooks = list(hooks)
        self.config = folder / "alerts.toml"
        self.worker: WorkerProcess | None = None
        self.alerts: WorkerProcess | None = None
        self.restarts: list[float] = []  # seconds from each kill -9 to ready again

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DeliveryRun]:
        """Receivers, worker and alert service started (the service ready, so at the end
        of its topics); all stopped afterwards."""
        await ensure_topics(self.settings)
        try:
            for hook in self.hooks:
                hook.receiver = Receiver(hook.script)
                await hook.receiver.start()
            self.config.write_text("\n".join(h.table() for h in self.hooks), encoding="utf-8")
            self.worker = await start_worker(self.settings, data_dir=self.folder / "worker")
            await self.start_alerts()
            yield self
        finally:
            for process in (self.alerts, self.worker):
                if process is not None:
                    await process.stop()
            for hook in self.hooks:
                if hook.receiver is not None:
                    await hook.receiver.stop()

    async def start_alerts(self) -> None:
        env = {hook.env: hook.secret for hook in self.hooks}
        self.alerts = await start_alerts(self.settings, self.config, env)

    async def feed(self, events: Sequence[SimEvent], rate: float) -> float:
        """Send the events live at `rate`; return the time of the last one (wall clock)."""
        start = time.time()
        dated = live(events, start, rate)
        await produce(self.settings, dated, rate)
        return start + (len(events) - 1) / rate

    async def finish(self, last_event_at: float) -> None:
        """Until every record is written and delivered or dead-lettered: the worker has
        processed the input, the last SLA instant has passed and its events are written,
        and the alert group has committed both topics to their end."""
        await wait_all_processed(self.settings)
        # The fault model's bound, not a synchronisation: no SLA instant comes after this.
        await asyncio.sleep(max(0.0, last_event_at + SLA_TAIL_S - time.time()))
        await wait_all_processed(self.settings)

        async def finished() -> bool:
            return await committed_to_end(self.settings, [STAGE_CHANGES, SLA])

        await wait_for(finished, FINISH_TIMEOUT_S, "the alert service finishing every record")

    async def kill_alerts_again_and_again(
        self, kills: int, rng: random.Random, feeding: asyncio.Task[float]
    ) -> int:
        """kill -9 the alert service at random moments while the input flows, restarting it
        each time (like systemd would)."""
        done = 0
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.5, 2.5))  # the fault schedule, not a sync
            assert self.alerts is not None
            killed_at = time.monotonic()
            await self.alerts.stop(signal.SIGKILL)
            await self.start_alerts()
            self.restarts.append(time.monotonic() - killed_at)
            done += 1
        await feeding
        return done


async def refuse_for_a_while(
    hook: Hook, outages: int, down_s: float, rng: random.Random, feeding: asyncio.Task[float]
) -> int:
    """Stop the hook's receiver (connections refused) for `down_s`, then listen again on the
    same port; `outages` times while the input flows."""
    receiver = hook.receiver
    assert receiver is not None
    for _ in range(outages):
        await asyncio.sleep(rng.uniform(0.3, 1.5))  # the fault schedule, not a sync
        await receiver.stop()
        down = time.time()
        await asyncio.sleep(down_s)
        await receiver.start()
        hook.outages.append((down, time.time()))
    await feeding
    return outages
