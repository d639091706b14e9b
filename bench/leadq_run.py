"""Throughput of one `leadq run` worker over the preloaded input (its own app id per run)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.common import (
    OffsetWatch,
    cpu_seconds,
    read_range,
    say,
    vm_hwm_mb,
    wait_for,
)
from bench.preload import Preload
from bench.worker import finish_py_spy, launch, start_py_spy
from streams.settings import Settings
from streams.tools.expected import final_stages
from streams.worker.launch import output_tail
from streams.worker.topics import TopicNames, ensure_topics

MIN_RATE = 100.0  # events/s below which a run is abandoned as broken (timeout)


@dataclass(frozen=True)
class LeadqResult:
    """What one worker run did and how long it took."""

    events: int
    seconds: float
    startup_s: float
    stage_changes: int
    peak_rss_mb: float | None
    store: str
    final_stages: dict[str, str]
    cpu_s: float | None  # the worker's CPU time while it processed the input

    @property
    def cpu_share(self) -> float | None:
        """The worker's CPU use while processing, as a share of one core."""
        return self.cpu_s / self.seconds if self.cpu_s is not None and self.seconds > 0 else None

    @property
    def cpu_us_per_event(self) -> float | None:
        """The worker's CPU time per input event, in microseconds (noise-robust)."""
        return self.cpu_s / self.events * 1e6 if self.cpu_s is not None and self.events else None

    @property
    def events_per_s(self) -> float:
        """Input records processed (re-keyed and qualified) per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


def run_settings(preload: Preload, run: str, data_dir: Path) -> Settings:
    """The preload's settings with an app id (consumer group, changelog) and data dir of its own."""
    return preload.settings.model_copy(update={"app_id": f"leadq-{run}", "data_dir": data_dir})


async def run_leadq(
    preload: Preload,
    run: str,
    data_dir: Path,
    on_progress: Callable[[int], None] | None = None,
    profile: Path | None = None,
) -> LeadqResult:
    """Start a fresh worker on the preloaded input; time it from ready until all is done.

    Done means the worker's consumer group has committed the end offset of every input
    partition and of every partition of its internal re-keyed topic: faust flushes the
    producer before it commits, so by then every stage change and state write is durable.
    With `profile`, py-spy samples the worker for the whole run (flamegraph if the path
    ends in .svg, else collapsed stacks).
    """
    settings = run_settings(preload, run, data_dir)
    names = TopicNames.of(settings)
    groups = (settings.worker_group, settings.ingest_group)
    await ensure_topics(settings)
    timeout = preload.events / MIN_RATE + 60
    async with OffsetWatch(settings) as watch:
        changes_before = await watch.ends([names.stage_changes])
        launched = await launch(settings)
        say(f"{run}: worker pid {launched.pid} ready after {launched.startup_s:.1f}s")
        cpu_at_ready = cpu_seconds(launched.pid)
        spy = await start_py_spy(launched.pid, profile) if profile is not None else None
        last = time.monotonic()

        async def done() -> bool:
            nonlocal last
            committed = await watch.committed(*groups)
            if on_progress is not None and time.monotonic() - last >= 5:
                last = time.monotonic()
                # Input events taken in (events-by-lead records hold several events each).
                on_progress(sum(o for tp, o in committed.items() if tp in preload.ends))
            return await watch.processed(
                committed, preload.ends, names.events_by_lead, ticks_too=False
            )

        try:
            try:
                finished = await wait_for(done, timeout, f"{run}: worker processing the input")
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}; {output_tail(launched.worker)}") from None
            cpu_at_end = cpu_seconds(launched.pid)
            peak = vm_hwm_mb(launched.pid)
        finally:
            await launched.worker.stop()
            if spy is not None:
                await finish_py_spy(spy, profile)
        changes_after = await watch.ends([names.stage_changes])
    records = [orjson.loads(v) for v in await read_range(settings, changes_before, changes_after)]
    return LeadqResult(
        events=preload.events,
        seconds=finished - launched.ready_at,
        startup_s=launched.startup_s,
        stage_changes=len(records),
        peak_rss_mb=peak,
        store=settings.store,
        final_stages=final_stages(records),
        cpu_s=None if cpu_at_ready is None or cpu_at_end is None else cpu_at_end - cpu_at_ready,
    )
