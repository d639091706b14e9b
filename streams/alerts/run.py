"""Run the alert service in this process until SIGINT or SIGTERM, with its endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Final

from streams.alerts.config import AlertsConfig, Target
from streams.alerts.metrics import AlertMetrics
from streams.alerts.service import AlertService
from streams.settings import Settings
from streams.worker.web import WorkerWeb

READY_LINE: Final = "leadq alerts ready"


def announce_ready() -> None:
    """Printed after every assignment of partitions (what launchers wait for)."""
    print(READY_LINE, flush=True)


async def serve(settings: Settings, config: AlertsConfig, targets: list[Target]) -> None:
    """Deliver until a signal arrives (or the service fails: its error is raised)."""
    metrics = AlertMetrics()
    service = AlertService(settings, config, targets, metrics, on_ready=announce_ready)
    web = None
    if settings.web_port is not None:
        web = WorkerWeb(settings.web_host, settings.web_port, metrics, service.is_ready)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if web is not None:  # first, so that /healthz answers once `ready` is printed
        await web.start()
    try:
        await service.start()
        stopped = asyncio.ensure_future(stop.wait())
        failed = asyncio.ensure_future(service.failed())
        await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if failed.done() and (error := failed.result()) is not None:
            raise error
        failed.cancel()
    finally:
        if web is not None:
            with contextlib.suppress(Exception):
                await web.stop()
        await service.stop()


def run_alerts(
    settings: Settings, config: AlertsConfig, targets: list[Target], loglevel: str = "warning"
) -> None:
    """Configure logging and run the service; returns once it has stopped."""
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # aiokafka's per-rebalance chatter is noise at info level.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    asyncio.run(serve(settings, config, targets))
