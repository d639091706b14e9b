"""The demo's webhook receiver on 127.0.0.1: checks each alert's signature and prints it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from streams.tools.alert_lines import alert_line

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Alert:
    """One request the receiver got: its type, id and lead, and whether it was signed right."""

    type: str
    webhook_id: str
    lead_id: str
    verified: bool
    after_s: float | None  # see alert_line


class AlertReceiver:
    """A webhook endpoint that verifies every request with the Standard Webhooks library,
    answers 204 (401 when the signature does not hold) and prints one line per alert.

    `sent_at` maps an input event id to when it was sent (time.time()): a stage change's
    line says how long after its triggering event it arrived.
    """

    def __init__(
        self,
        secret: str,
        sent_at: Mapping[str, float],
        echo: Callable[[str], None],
    ) -> None:
        self.webhook = Webhook(secret)
        self.sent_at = sent_at
        self.echo = echo
        self.alerts: list[Alert] = []
        self.port = 0
        self._arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hook"

    async def start(self) -> None:
        """Listen on a free port of the loopback address."""
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind((HOST, 0))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            self.webhook.verify(body, headers, json_parse=False)
            verified = True
        except WebhookVerificationError:
            verified = False
        try:
            parsed: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = {}
        parsed = parsed if isinstance(parsed, dict) else {}
        data = parsed.get("data") if isinstance(parsed.get("data"), dict) else {}
        assert isinstance(data, dict)
        after_s = self._after(str(parsed.get("type")), data, arrived)
        self.alerts.append(
            Alert(
                type=str(parsed.get("type")),
                webhook_id=headers.get("webhook-id", ""),
                lead_id=str(data.get("lead_id")),
                verified=verified,
                after_s=after_s,
            )
        )
        self.echo(f"  {alert_line(parsed, verified, after_s)}")
        self._arrived.set()
        return web.Response(status=204 if verified else 401)

    def _after(self, kind: str, data: Mapping[str, Any], arrived: float) -> float | None:
        """Seconds from the triggering event's send (a stage change) or from the due time
        (a breach) to the arrival; None when not known."""
        if kind == "lead.stage_changed":
            sent = self.sent_at.get(str(data.get("trigger_event_id")))
            return None if sent is None else max(0.0, arrived - sent)
        if kind == "lead.sla_breached":
            with contextlib.suppress(ValueError):
                due = datetime.fromisoformat(str(data.get("due_at")))
                return max(0.0, arrived - due.timestamp())
        return None

    async def wait_until(self, condition: Callable[[list[Alert]], bool], timeout: float) -> bool:
        """Wait until `condition(alerts)` holds; False when it did not within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition(self.alerts):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return True
