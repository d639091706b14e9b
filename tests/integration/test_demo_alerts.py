"""`leadq demo`'s alerts part on the real broker: a worker with a short SQL SLA and the alert
service process post signed webhooks to the demo's receiver, which prints a line for each
stage change and for the SLA warning and breach of the SQL nobody calls."""

from __future__ import annotations

import re

import pytest

from streams.settings import Settings
from streams.tools.demo_alerts import show_alerts

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

TIME = r"\d\d:\d\d:\d\d"


async def test_the_demo_prints_signed_alerts_and_the_sla_breach(settings: Settings) -> None:
    lines: list[str] = []
    shown = await show_alerts(
        settings, settings.topic_prefix, within="4s", warn_before="2s", echo=lines.append
    )
    text = "\n".join(lines)
    ann, bob = r"ann-\S+", r"bob-\S+"
    after = r"\(signature ok, \d+\.\d s after the event\)"
    assert re.search(rf"^  alert  {ann}  lead → sql  {after}$", text, re.M), text
    assert re.search(rf"^  alert  {bob}  lead → sql  {after}$", text, re.M), text
    assert re.search(rf"^  alert  {bob}  sql → sqo  {after}$", text, re.M), text
    since_due = rf"sql since {TIME}, due {TIME}"
    warning = rf"^  SLA warning   {ann}  {since_due}  \(signature ok\)$"
    breach = rf"^  SLA breached  {ann}  {since_due}  \(signature ok, \d+\.\d s after it came due\)$"
    assert re.search(warning, text, re.M), text
    assert re.search(breach, text, re.M), text
    # bob was called and became an SQO in time: no SLA event for him.
    assert not re.search(rf"SLA \w+ +{bob}", text), text
    assert "INVALID" not in text
    assert shown.ok
    assert [a.type for a in shown.alerts if a.lead_id.startswith("ann-")] == [
        "lead.stage_changed",
        "lead.sla_warning",
        "lead.sla_breached",
    ]
    assert "3 stage changes" in shown.summary()
    assert "(breach seen), every signature ok" in shown.summary()
