"""The demo's webhook receiver on a real local port: right signatures are taken (204) and
printed, wrong ones refused (401) and printed as such."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from streams.tools.alert_receiver import AlertReceiver
from streams.tools.demo_alerts import new_secret

pytestmark = pytest.mark.asyncio


def signed(secret: str, msg_id: str, body: bytes) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }


async def test_signed_alerts_are_taken_and_printed_and_forged_ones_refused() -> None:
    secret = new_secret()
    lines: list[str] = []
    receiver = AlertReceiver(secret, {"e1": time.time() - 0.25}, lines.append)
    await receiver.start()
    body = orjson.dumps(
        {
            "type": "lead.stage_changed",
            "timestamp": "2026-03-02T10:00:00+00:00",
            "data": {
                "change_id": "ann:1",
                "lead_id": "ann",
                "from_stage": "lead",
                "to_stage": "sql",
                "trigger_event_id": "e1",
            },
        }
    )
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                receiver.url, data=body, headers=signed(secret, "ann:1", body)
            ) as r:
                assert r.status == 204
            forged = signed(new_secret(), "ann:1", body)
            async with session.post(receiver.url, data=body, headers=forged) as r:
                assert r.status == 401
        assert await receiver.wait_until(lambda got: len(got) == 2, 5.0)
    finally:
        await receiver.stop()
    good, bad = receiver.alerts
    assert (good.webhook_id, good.lead_id, good.verified) == ("ann:1", "ann", True)
    assert good.after_s is not None
    assert good.after_s >= 0.25
    assert not bad.verified
    assert lines[0].startswith("  alert  ann  lead → sql  (signature ok, ")
    assert lines[1].startswith("  alert  ann  lead → sql  (signature INVALID, ")
