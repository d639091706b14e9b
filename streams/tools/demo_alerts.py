"""`leadq demo`'s alerts part: live leads, their signed webhooks within a second, an SLA breach."""

from __future__ import annotations

import asyncio
import base64
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import typer

from streams.alerts.launch import start_alerts
from streams.core.rule_base import parse_duration
from streams.settings import Settings
from streams.tools.alert_receiver import Alert, AlertReceiver
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import Step, scenario
from streams.tools.sla_preset import with_sla
from streams.worker.launch import WorkerProcess, start_worker
from streams.worker.topics import ensure_topics

SLA_WITHIN = "20s"
SLA_WARN_BEFORE = "10s"
TIMER_INTERVAL_S = 1.0  # the worker looks for SLA instants that came due this often
SECRET_ENV = "LEADQ_DEMO_WEBHOOK_SECRET"
ALERT_TIMEOUT_S = 30.0
BREACH_MARGIN_S = 30.0  # beyond the SLA itself, for the breach to arrive

CHANGED = "lead.stage_changed"
BREACHED = "lead.sla_breached"


def alerts_config(url: str) -> str:
    """The alert service's configuration: every stage change and SLA event to `url`."""
    return (
        "[[destination]]\n"
        'name = "demo-receiver"\n'
        'kind = "webhook"\n'
        f'url = "{url}"\n'
        f'secret_env = "{SECRET_ENV}"\n'
        "sla = true\n"
        'timeout = "2s"\n'
        'backoff = "200ms"\n'
    )


def new_secret() -> str:
    """A Standard Webhooks signing secret."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _steps(name: str, lead_id: str) -> list[Step]:
    return list(scenario(name).for_lead(lead_id).steps)


@dataclass
class AlertsShown:
    """What the receiver got in the demo's alerts part."""

    alerts: list[Alert]
    breached: bool

    @property
    def changes(self) -> list[Alert]:
        return [a for a in self.alerts if a.type == CHANGED]

    @property
    def ok(self) -> bool:
        signed = all(a.verified for a in self.alerts)
        return signed and bool(self.changes) and self.breached

    def summary(self) -> str:
        """The demo summary's line."""
        late = [a.after_s for a in self.changes if a.after_s is not None]
        slas = len(self.alerts) - len(self.changes)
        bad = sum(1 for a in self.alerts if not a.verified)
        signed = "every signature ok" if not bad else f"{bad} signature(s) INVALID"
        worst = f" (at most {max(late):.1f} s after their event)" if late else ""
        return (
            f"{len(self.changes)} stage changes{worst}, {slas} SLA events"
            f" ({'breach seen' if self.breached else 'NO breach'}), {signed}"
        )


class LiveLeads:
    """Sends scenario events dated now, one after the other, remembering when each was sent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sent_at: dict[str, float] = {}

    async def send(self, steps: list[Step]) -> None:
        for step in steps:
            value = {**step.value, "occurred_at": datetime.now(UTC).isoformat()}
            self.sent_at[str(value["event_id"])] = time.time()
            message = (f"leads.{step.kind}", str(value["lead_id"]).encode(), orjson.dumps(value))
            await produce_in_order(self.settings, [message])


async def show_alerts(
    base: Settings,
    run_id: str,
    within: str = SLA_WITHIN,
    warn_before: str = SLA_WARN_BEFORE,
    echo: Callable[[str], None] = typer.echo,
) -> AlertsShown:
    """Run a worker (the default preset with a short SQL SLA) and `leadq alerts` posting to a
    local receiver; send two live leads; print each alert as it arrives; wait for the breach."""
    stamp = run_id.strip(".")
    ann, bob = f"ann-{stamp}", f"bob-{stamp}"
    with tempfile.TemporaryDirectory(prefix="leadq-demo-alerts-") as scratch:
        folder = Path(scratch)
        rules = folder / "default-quick-sla.toml"
        rules.write_text(with_sla("default", within, warn_before), encoding="utf-8")
        settings = base.model_copy(
            update={
                "topic_prefix": f"{run_id}alerts.",
                "rules": str(rules),
                "timer_clock": "wall",
                "timer_interval_s": TIMER_INTERVAL_S,
                "web_port": None,
            }
        )
        live = LiveLeads(settings)
        secret = new_secret()
        receiver = AlertReceiver(secret, live.sent_at, echo)
        await receiver.start()
        config = folder / "alerts.toml"
        config.write_text(alerts_config(receiver.url), encoding="utf-8")
        await ensure_topics(settings)
        echo(
            f"\nAlerts: `leadq alerts` posts every stage change and SLA event, signed, to a"
            f" webhook receiver at {receiver.url}\n(the SQL SLA is {within} here, with a warning"
            f" {warn_before} before, so that it comes due during the demo)"
        )
        processes: list[WorkerProcess] = []
        try:
            processes.append(await start_worker(settings, wait=False, data_dir=folder / "w"))
            processes.append(await start_alerts(settings, config, {SECRET_ENV: secret}, wait=False))
            await asyncio.gather(*(p.wait_ready() for p in processes))
            shown = await _play(live, receiver, ann, bob, within, echo)
        finally:
            await asyncio.gather(*(p.stop() for p in processes))
            await receiver.stop()
            _save_logs(base, processes)
    return shown


async def _play(
    live: LiveLeads,
    receiver: AlertReceiver,
    ann: str,
    bob: str,
    within: str,
    echo: Callable[[str], None],
) -> AlertsShown:
    def changes(lead: str, count: int) -> Callable[[list[Alert]], bool]:
        return lambda got: sum(a.type == CHANGED and a.lead_id == lead for a in got) >= count

    echo(f"{ann} downloads an e-book; so does {bob}, who then asks for a demo and talks to a rep:")
    await live.send(_steps("software-ebook-sql", ann))
    bob_steps = _steps("software-demo-sqo", bob)
    await live.send(bob_steps[:1])
    await receiver.wait_until(
        lambda got: changes(ann, 1)(got) and changes(bob, 1)(got), ALERT_TIMEOUT_S
    )
    await live.send(bob_steps[1:])
    await receiver.wait_until(changes(bob, 2), ALERT_TIMEOUT_S)
    echo(f"Nobody calls {ann}: an SQL must be worked within {within} ...")
    wait_s = receiver_deadline(within)
    breached = await receiver.wait_until(
        lambda got: any(a.type == BREACHED and a.lead_id == ann for a in got), wait_s
    )
    if not breached:
        echo(f"  no SLA breach arrived within {wait_s:g} s")
    return AlertsShown(list(receiver.alerts), breached)


def receiver_deadline(within: str) -> float:
    """How long to wait for a breach: the SLA, then a margin for its way through Kafka."""
    within_ms: int = parse_duration(within)
    return within_ms / 1000 + BREACH_MARGIN_S


def _save_logs(base: Settings, processes: list[WorkerProcess]) -> None:
    folder = base.data_dir / "demo-logs"
    folder.mkdir(parents=True, exist_ok=True)
    for name, process in zip(("alerts-worker", "alerts"), processes, strict=False):
        (folder / f"{name}.log").write_text("\n".join(process.lines) + "\n", encoding="utf-8")
