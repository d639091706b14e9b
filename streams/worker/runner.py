"""Run one qualifier worker in this process until it is stopped (SIGINT/SIGTERM)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

from faust.worker import Worker as FaustWorker

from streams.settings import Settings
from streams.worker.app import build
from streams.worker.collector import Collector
from streams.worker.topics import ensure_topics

READY_LINE = "leadq worker ready"


def run_worker(settings: Settings, loglevel: str = "warn") -> None:
    """Create missing topics, then run the Faust worker; returns when it has stopped."""
    use_uvloop()
    (settings.data_dir / "worker").mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings))
    worker = build(settings)

    @worker.app.on_rebalance_complete.connect  # type: ignore[untyped-decorator]
    async def _announce(sender: object, **kwargs: object) -> None:
        print(READY_LINE, flush=True)

    # aiokafka's per-message debug calls cost measurable CPU; its warnings are enough.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # Once the app runs, the cyclic collector runs on a timer (collector.py).
    worker.app.service(Collector(loop=worker.app.loop, beacon=worker.app.beacon))
    faust_worker = FaustWorker(
        worker.app,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
    )
    # With a spinner, faust sets the root logger to DEBUG (for the spinner's handler), so
    # every debug call in faust and aiokafka builds a record. No spinner in a service.
    faust_worker.spinner = None
    # What exists by now (faust, pydantic models, the ruleset) lives as long as the
    # process: kept out of the cyclic collector's passes, which otherwise walk it all
    # again and again (p99 latency at 2,000 events/s: 61-67 ms with it, 79 ms without).
    gc.freeze()
    # faust runs its Kafka consumer in a thread of its own: every fetched batch is handed
    # from that thread to the agents' loop. With the default 5 ms switch interval a thread
    # that wants the GIL waits up to 5 ms for a busy one to let go; at 0.5 ms the hand-over
    # costs less latency (p99 at 2,000 events/s, three warm runs each: 88-147 ms at 5 ms,
    # 61-123 ms at 0.5 ms, on a noisy 2-core machine).
    sys.setswitchinterval(0.0005)
    faust_worker.execute_from_commandline()


def use_uvloop() -> None:
    """Run on uvloop where it exists: a worker spends much of its CPU in the event loop's
    scheduling of futures and callbacks, which uvloop does in C."""
    if sys.platform == "win32":
        return
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
