"""A service's own HTTP endpoints: /healthz, /readyz and /metrics (with LEADQ_WEB_PORT)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

RETRY_AFTER_S = "5"


class Metrics(Protocol):
    """Metrics that render themselves in Prometheus' text format (WorkerMetrics, AlertMetrics)."""

    async def render(self) -> bytes: ...


class WorkerWeb(Service):
    """Serves the endpoints on host:port while a worker (or `leadq alerts`) runs.

    /healthz answers 200 while the process serves at all; /readyz 200 once `ready()` says
    so (a worker: it has its partitions and has recovered its state), else 503 with
    Retry-After (before that, and during a rebalance); /metrics the Prometheus text format.
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        ready: Callable[[], bool],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.port = port
        self.metrics = metrics
        self.ready = ready
        self._runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        """Listen on host:port."""
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_text)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("serving /healthz, /readyz and /metrics on %s:%d", self.host, self.port)

    async def on_stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def healthz(self, request: web.Request) -> web.Response:
        """200 while the worker runs."""
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """200 once assigned and recovered; 503 with Retry-After before."""
        if self.ready():
            return web.json_response({"status": "ready"})
        return web.json_response(
            {"status": "not ready"}, status=503, headers={"Retry-After": RETRY_AFTER_S}
        )

    async def metrics_text(self, request: web.Request) -> web.Response:
        """The metrics in Prometheus' text format."""
        body = await self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
