"""Run one qualifier worker in this process until it is stopped (SIGINT/SIGTERM)."""

from __future__ import annotations

import asyncio
import logging

from faust.worker import Worker as FaustWorker

from streams.app import build
from streams.settings import Settings
from streams.topics import ensure_topics

READY_LINE = "leadq worker ready"


def run_worker(settings: Settings, loglevel: str = "warn") -> None:
    """Create missing topics, then run the Faust worker; returns when it has stopped."""
    (settings.data_dir / "worker").mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings))
    worker = build(settings)

    @worker.app.on_rebalance_complete.connect  # type: ignore[untyped-decorator]
    async def _announce(sender: object, **kwargs: object) -> None:
        print(READY_LINE, flush=True)

    # aiokafka's per-message debug calls cost measurable CPU; its warnings are enough.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    faust_worker = FaustWorker(
        worker.app,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
    )
    # With a spinner, faust sets the root logger to DEBUG (for the spinner's handler), so
    # every debug call in faust and aiokafka builds a record. No spinner in a service.
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()
