"""The worker's endpoints on a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.worker.metrics import WorkerMetrics
from streams.worker.web import WorkerWeb
from tests.support.ports import free_port

pytestmark = pytest.mark.asyncio


async def test_health_readiness_and_metrics_are_served() -> None:
    ready = [False]
    metrics = WorkerMetrics()
    metrics.stage_changes.labels("sqo").inc()
    port = free_port()
    web = WorkerWeb("127.0.0.1", port, metrics, lambda: ready[0])
    await web.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 503
                assert response.headers["Retry-After"].isdigit()
            ready[0] = True
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 200
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = await response.text()
            async with http.get(f"{base}/nothing") as response:
                assert response.status == 404
    finally:
        await web.stop()
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert "leadq_stage_changes_total" in names
