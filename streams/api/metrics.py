"""The api's Prometheus metrics (its own registry) and the middleware that counts requests."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# A change read from Kafka is served within milliseconds; a backlog takes seconds.
VISIBLE_BUCKETS_S: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STREAMING_ROUTES: Final = frozenset({"/events"})  # their duration is the connection's

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
Asgi = Callable[[Scope, Receive, Send], Any]


class ApiMetrics:
    """Requests served, records read, the replica's lag and readiness, /events clients."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "leadq_api_requests",
            "HTTP requests answered, by method, route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "leadq_api_request_seconds", "Time to answer a request, by route", ["route"], registry=r
        )
        self.records = Counter(
            "leadq_api_records", "Records read into the replica, by topic", ["topic"], registry=r
        )
        self.bad_records = Counter(
            "leadq_api_bad_records",
            "Records skipped because they could not be read, by topic",
            ["topic"],
            registry=r,
        )
        self.lag = Gauge(
            "leadq_api_replica_lag",
            "Records written to a topic that the replica has not read yet",
            ["topic"],
            registry=r,
        )
        self.ready = Gauge("leadq_api_ready", "1 while /readyz answers 200", registry=r)
        self.leads = Gauge("leadq_api_leads", "Leads the replica knows", registry=r)
        self.clients = Gauge("leadq_api_event_clients", "Connected /events clients", registry=r)
        self.visible = Histogram(
            "leadq_api_stage_change_visible_seconds",
            "From a stage change's Kafka timestamp (its write) to the api serving it",
            buckets=VISIBLE_BUCKETS_S,
            registry=r,
        )
        self.sources: list[Callable[[], None]] = []  # refresh gauges before a scrape

    def render(self) -> bytes:
        """The Prometheus text format, gauges read now."""
        for refresh in self.sources:
            refresh()
        return generate_latest(self.registry)

    def set_lag(self, by_topic: Mapping[str, int]) -> None:
        """Replace the lag gauge's values."""
        self.lag.clear()
        for topic, lag in by_topic.items():
            self.lag.labels(topic).set(lag)


class RequestMetrics:
    """ASGI middleware: counts each HTTP request by method, route template and status."""

    def __init__(self, app: Asgi, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _template(getattr(scope.get("route"), "path", None) or "unmatched")
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.requests.labels(method, route, str(status)).inc()
            if route not in STREAMING_ROUTES:
                elapsed = time.perf_counter() - started
                self.metrics.request_seconds.labels(route).observe(elapsed)


def _template(path: str) -> str:
    """A route's path as its OpenAPI document names it: /leads/{lead_id:path} -> {lead_id}."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)
