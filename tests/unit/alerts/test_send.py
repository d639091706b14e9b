"""One attempt over real HTTP on 127.0.0.1: signed per Standard Webhooks (checked here
without the package), the answer summed up, Slack paced to one message a second per URL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from pydantic import SecretStr

from streams.alerts.backoff import Verdict
from streams.alerts.config import Destination, Target
from streams.alerts.routing import AlertEvent, read_event, webhook_body
from streams.alerts.send import Sender, body_of
from tests.support.alert_records import new_secret, signature_ok, stage_change
from tests.support.alerts import Reply, always, receivers
from tests.support.ports import free_port

pytestmark = pytest.mark.asyncio

EVENT = read_event("stage_changes", orjson.dumps(stage_change("ann", 1, "lead", "sql")))


def target(url: str, secret: str | None = None, **options: Any) -> Target:
    if secret:
        rules = Destination(name="dest", kind="webhook", url=url, secret_env="S", **options)
    else:
        rules = Destination(name="dest", kind="slack", url=url, **options)
    return Target(rules, SecretStr(url), SecretStr(secret) if secret else None)


@pytest_asyncio.fixture
async def sender() -> AsyncIterator[Sender]:
    async with aiohttp.ClientSession() as session:
        yield Sender(session)


async def attempt(sender: Sender, to: Target, event: AlertEvent = EVENT) -> Any:
    return await sender.attempt(to, event, body_of(to, event))


async def test_a_webhook_is_signed_and_delivered(sender: Sender) -> None:
    secret = new_secret()
    async with receivers(None) as (crm,):
        result = await attempt(sender, target(crm.url, secret))
    assert (result.status, result.error, result.verdict) == (200, None, Verdict.DELIVERED)
    (hit,) = crm.hits
    assert hit.body == webhook_body(EVENT)
    assert hit.webhook_id == "ann:1"
    assert signature_ok(secret, hit.headers, hit.body)
    assert not signature_ok(new_secret(), hit.headers, hit.body)
    assert hit.headers["user-agent"].startswith("leadq-alerts/")


async def test_failures_are_summed_up(sender: Sender) -> None:
    async with receivers(
        always(500), always(429, **{"Retry-After": "3"}), always(302, Location="/elsewhere")
    ) as (broken, busy, moved):
        failed = await attempt(sender, target(broken.url, new_secret()))
        throttled = await attempt(sender, target(busy.url, new_secret()))
        redirected = await attempt(sender, target(moved.url, new_secret()))
    assert (failed.status, failed.error, failed.verdict) == (500, "HTTP 500: answer", Verdict.RETRY)
    assert (throttled.status, throttled.retry_after_s) == (429, 3.0)
    assert (redirected.status, redirected.verdict) == (302, Verdict.REJECTED)
    assert len(moved.hits) == 1  # not followed


async def test_no_answer_within_the_timeout(sender: Sender) -> None:
    never = asyncio.Event()
    async with receivers(lambda body, seen: Reply(200, hold=never)) as (stuck,):
        result = await attempt(sender, target(stuck.url, new_secret(), timeout="200ms"))
        never.set()
    assert (result.status, result.error, result.verdict) == (
        None,
        "no answer within 0.2s",
        Verdict.RETRY,
    )


async def test_a_network_error_does_not_show_the_url(sender: Sender) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T1/B2/SecretToken"
    result = await attempt(sender, target(url))
    assert result.status is None
    assert result.verdict is Verdict.RETRY
    assert result.error.startswith("ClientConnectorError")
    assert "SecretToken" not in result.error


async def test_slack_gets_at_most_one_message_a_second_per_url(sender: Sender) -> None:
    async with receivers(None, None) as (channel, other):
        to, elsewhere = target(channel.url), target(other.url)
        results = await asyncio.gather(
            *(attempt(sender, to) for _ in range(3)), attempt(sender, elsewhere)
        )
    assert [r.status for r in results] == [200] * 4
    arrivals = sorted(h.at for h in channel.hits)
    assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(arrivals))
    assert other.hits[0].at - arrivals[0] < 0.9  # another URL does not wait
    assert "webhook-signature" not in channel.hits[0].headers
    assert set(channel.hits[0].json) == {"text", "blocks"}
