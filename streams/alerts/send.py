"""One HTTP delivery attempt (signed webhook or Slack message) and its answer, URL never shown."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Final

import aiohttp
from aiolimiter import AsyncLimiter
from standardwebhooks.webhooks import Webhook

from streams.alerts.backoff import Attempt, parse_retry_after
from streams.alerts.config import Target
from streams.alerts.routing import AlertEvent, webhook_body
from streams.alerts.slack import slack_body

ANSWER_BYTES: Final = 300  # how much of a failed answer's body is kept in last_error
SLACK_PER_SECOND: Final = 1.0


@functools.cache
def user_agent() -> str:
    """`leadq-alerts/{version}` (looked up once: importlib.metadata parses the package's
    METADATA file on every call, which cost milliseconds per request)."""
    return f"leadq-alerts/{version('leadq')}"


def signed_headers(webhook: Webhook, msg_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (its timestamp is the attempt's)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": webhook.sign(msg_id, now, body),
    }


class Sender:
    """Posts events to targets over one aiohttp client; Slack URLs get at most one message
    per second each (shared by destinations that use the same URL)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self._limiters: dict[str, AsyncLimiter] = {}
        self._signers: dict[str, Webhook] = {}

    def _limiter(self, url: str) -> AsyncLimiter:
        limiter = self._limiters.get(url)
        if limiter is None:
            limiter = self._limiters[url] = AsyncLimiter(1, 1 / SLACK_PER_SECOND)
        return limiter

    def _signer(self, target: Target) -> Webhook:
        signer = self._signers.get(target.name)
        if signer is None:
            assert target.secret is not None  # every webhook has one (config validation)
            signer = self._signers[target.name] = Webhook(target.secret.get_secret_value())
        return signer

    def headers(self, target: Target, event: AlertEvent, body: bytes) -> dict[str, str]:
        """The headers of an attempt made now (a webhook's are signed with its timestamp)."""
        headers = {"content-type": "application/json", "user-agent": user_agent()}
        if target.rules.kind == "slack":
            return headers
        now = datetime.now(UTC)
        return headers | signed_headers(self._signer(target), event.webhook_id, body, now)

    async def attempt(self, target: Target, event: AlertEvent, body: bytes) -> Attempt:
        """Post the body (see body_of) once; never raises for what the network or the
        receiver does."""
        url = target.url.get_secret_value()
        if target.rules.kind == "slack":
            async with self._limiter(url):
                return await self._post(target, url, event, body)
        return await self._post(target, url, event, body)

    async def _post(self, target: Target, url: str, event: AlertEvent, body: bytes) -> Attempt:
        headers = self.headers(target, event, body)
        timeout = aiohttp.ClientTimeout(total=target.timeout_s)
        try:
            async with self.session.post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                if 200 <= response.status <= 299:
                    return Attempt(response.status)
                answer = await _start_of(response)
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                )
                error = f"HTTP {response.status}" + (f": {answer}" if answer else "")
                return Attempt(response.status, error, retry_after)
        except TimeoutError:
            return Attempt(None, f"no answer within {target.timeout_s:g}s")
        except aiohttp.ClientError as exc:
            return Attempt(None, _scrubbed(exc, url))


def body_of(target: Target, event: AlertEvent) -> bytes:
    """What a destination is sent for an event: the same bytes on every attempt."""
    return slack_body(event) if target.rules.kind == "slack" else webhook_body(event)


async def _start_of(response: aiohttp.ClientResponse) -> str:
    """The first bytes of an answer's body, as one line of text."""
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
        raw = await response.content.read(ANSWER_BYTES)
        return " ".join(raw.decode("utf-8", "replace").split())
    return ""


def _scrubbed(exc: BaseException, url: str) -> str:
    """An exception as `Type: message`, with the URL and its path taken out."""
    from urllib.parse import urlsplit

    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    parts = urlsplit(url)
    for secret in (url, parts.path, parts.query):
        if len(secret) > 1:
            text = text.replace(secret, "…")
    return text
