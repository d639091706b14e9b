"""`leadq alerts --config FILE` as a process on the real broker: URLs and secrets from the
environment (and never in its output), a Slack message and a signed webhook delivered,
and /healthz, /readyz and /metrics served on LEADQ_WEB_PORT."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.alerts.launch import start_alerts
from streams.settings import Settings
from streams.worker.topics import SLA, STAGE_CHANGES
from tests.support.alert_records import new_secret, record, signature_ok, sla_event, stage_change
from tests.support.alerts import always, receivers, until
from tests.support.kafka import collect, produce
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CONFIG = """
[[destination]]
name = "crm"
kind = "webhook"
url_env = "TEST_CRM_URL"
secret_env = "TEST_CRM_SECRET"
stages = ["sql", "sqo"]
timeout = "2s"

[[destination]]
name = "sales-channel"
kind = "slack"
url_env = "TEST_SLACK_URL"
sla = true
stages = ["sqo"]
timeout = "2s"
"""


async def test_the_service_process_delivers_and_serves_its_metrics(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(web_port=port)
    config = tmp_path / "alerts.toml"
    config.write_text(CONFIG, encoding="utf-8")
    secret = new_secret()
    base = f"http://127.0.0.1:{port}"
    async with receivers(always(200), always(400)) as (crm, slack):
        slack_url = slack.url + "/T0001/B0002/VerySecretSlackToken"
        env = {"TEST_CRM_URL": crm.url, "TEST_CRM_SECRET": secret, "TEST_SLACK_URL": slack_url}
        process = await start_alerts(settings, config, env, loglevel="info")
        try:
            await produce(
                settings,
                [
                    record(STAGE_CHANGES, stage_change("ann", 1, "lead", "sql")),
                    record(STAGE_CHANGES, stage_change("ann", 2, "sql", "sqo")),
                    record(SLA, sla_event("ann", 1, "breached")),
                ],
            )
            await until(lambda: len(crm.delivered) == 2, "the webhook has both changes")
            await until(lambda: len(slack.hits) == 2, "Slack was sent the sqo and the breach")
            await collect(settings, "leads.alerts-dead-letter", until=lambda r: len(r) == 2)
            async with aiohttp.ClientSession() as http:
                for path in ("/healthz", "/readyz"):
                    async with http.get(base + path) as response:
                        assert response.status == 200, path
                async with http.get(base + "/metrics") as response:
                    text = await response.text()
        finally:
            code = await process.stop()
    assert code == 0, process.lines
    assert all(signature_ok(secret, h.headers, h.body) for h in crm.hits)
    for hit in slack.hits:
        assert "webhook-signature" not in hit.headers
        assert hit.json["text"].startswith("Lead ann: SQL → SQO") or hit.json["text"].startswith(
            "SLA breached: lead ann"
        )
        assert hit.json["blocks"][0]["type"] == "header"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    delivered = (("destination", "crm"), ("outcome", "delivered"))
    rejected = (("destination", "sales-channel"), ("outcome", "rejected"))
    assert samples[("leadq_alert_deliveries_total", delivered)] == 2
    assert samples[("leadq_alert_deliveries_total", rejected)] == 2
    assert samples[("leadq_alert_delivery_seconds_count", (("destination", "crm"),))] == 2
    output = "\n".join(process.lines)
    assert "sales-channel" in output  # the given-up deliveries are logged by name ...
    assert "VerySecretSlackToken" not in output  # ... never with the URL
    assert secret not in output
    assert "Traceback" not in output
