"""`leadq demo`: broker, workers, the article's scenarios, simulated traffic and its funnel page."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import typer
from aiokafka import AIOKafkaConsumer

from streams.api.server import ApiServer, listen
from streams.api.settings import DEFAULT_PORT, ApiSettings
from streams.core.ruleset import load_ruleset
from streams.settings import Settings
from streams.tools.demo_alerts import AlertsShown, show_alerts
from streams.tools.expected import final_stages, illegal_sequences, reference
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import SCENARIOS, Scenario
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.output import produce
from streams.tools.simulate.traffic import generate
from streams.tools.tail import format_change
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.launch import WorkerProcess, start_worker
from streams.worker.topics import ensure_topics

SCENARIO_TIMEOUT_S = 30.0
API_HOST = "127.0.0.1"
TRAFFIC_TIMEOUT_S = 180.0


@dataclass
class ChangeLog:
    """Stage changes read back from one deployment, with produce-to-readable latencies."""

    records: list[dict[str, Any]] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    quiet_leads: set[str] = field(default_factory=set)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, record: dict[str, Any], label: str) -> None:
        received = time.monotonic()
        self.records.append(record)
        sent = self.sent_at.get(str(record.get("trigger_event_id")))
        if sent is not None:
            self.latencies_ms.append((received - sent) * 1000)
        if record["lead_id"] not in self.quiet_leads:
            typer.echo(f"  [{label}] {format_change(record)}")
        self.arrived.set()

    async def wait_until(
        self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition(self.records):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.5))
        return True


async def _follow(settings: Settings, log: ChangeLog, label: str, ready: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        settings.topic("leads.stage-changes"),
        **kafka_client_kwargs(settings),
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    ready.set()
    try:
        async for message in consumer:
            log.add(orjson.loads(message.value), label)
    finally:
        await consumer.stop()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _maybe_start_broker(settings: Settings) -> Callable[[], None] | None:
    """Start the local broker unless KAFKA_BOOTSTRAP_SERVERS names one; return its stopper."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return None
    from streams.broker.node import LocalBroker

    port = int(settings.bootstrap_list[0].rpartition(":")[2])
    broker = LocalBroker(data_dir=settings.data_dir / "broker", port=port)
    was_running = broker.status().running
    typer.echo("Starting the local Apache Kafka broker ...", err=True)
    bootstrap = broker.start()
    typer.echo(f"Kafka is at {bootstrap}", err=True)
    if was_running:
        return None

    def stop() -> None:
        broker.stop()

    return stop


async def _scenarios(base: Settings, run_id: str) -> tuple[int, int]:
    """Replay the article's examples, one worker per preset; return (passed, total)."""
    presets = sorted({s.preset for s in SCENARIOS}, key=lambda p: p != "default")
    # The workers serve no endpoints: LEADQ_WEB_PORT is the funnel page's.
    deployments = {
        p: base.model_copy(update={"topic_prefix": f"{run_id}{p}.", "rules": p, "web_port": None})
        for p in presets
    }
    for settings in deployments.values():
        await ensure_topics(settings)
    typer.echo(f"Starting {len(presets)} workers, one per preset: {', '.join(presets)}")
    workers = await asyncio.gather(
        *(start_worker(s, loglevel="info") for s in deployments.values())
    )
    logs = {p: ChangeLog() for p in presets}
    followers = []
    try:
        for p, settings in deployments.items():
            ready = asyncio.Event()
            followers.append(asyncio.create_task(_follow(settings, logs[p], p, ready)))
            await asyncio.wait_for(ready.wait(), SCENARIO_TIMEOUT_S)
        passed = 0
        for s in SCENARIOS:
            passed += await _play(deployments[s.preset], logs[s.preset], s, run_id)
        return passed, len(SCENARIOS)
    finally:
        for task in followers:
            task.cancel()
        await _stop_all(workers)
        _save_logs(base, dict(zip(presets, workers, strict=True)))
        _forget(deployments.values())


async def _play(settings: Settings, log: ChangeLog, scenario: Scenario, run_id: str) -> bool:
    lead_id = f"{scenario.name}-{run_id.strip('.')}"
    s = scenario.for_lead(lead_id)
    typer.echo(f"\n{scenario.name} ({scenario.preset}): {scenario.story}")
    messages = [
        (f"leads.{step.kind}", lead_id.encode(), orjson.dumps(step.value)) for step in s.steps
    ]
    for _, _, value in messages:
        log.sent_at[orjson.loads(value)["event_id"]] = time.monotonic()
    await produce_in_order(settings, messages)
    expected = list(scenario.expected)

    def transitions(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(r["from_stage"], r["to_stage"]) for r in records if r["lead_id"] == lead_id]

    await log.wait_until(lambda r: len(transitions(r)) >= len(expected), SCENARIO_TIMEOUT_S)
    got = transitions(log.records)
    ok = got == expected
    if not expected:
        typer.echo("  (no stage change, as expected)" if ok else "  unexpected changes!")
    typer.echo(f"  {'ok' if ok else 'MISMATCH'}: expected {expected or 'none'}")
    return ok


def _sim_settings(base: Settings, run_id: str) -> Settings:
    """The deployment the simulated traffic goes through (its worker serves no endpoints)."""
    return base.model_copy(
        update={"topic_prefix": f"{run_id}sim.", "rules": "default", "web_port": None}
    )


async def _start_api(settings: Settings, api_settings: ApiSettings, port: int) -> ApiServer:
    """`leadq api` over a deployment's topics, in this process, on the loopback address:
    on `port`, or any free port when that one is taken."""
    try:
        sock = listen(API_HOST, port)
    except OSError:
        sock = listen(API_HOST, 0)
    api = ApiServer(settings, api_settings, load_ruleset(settings.rules), sock)
    await api.start()
    return api


async def _traffic(
    settings: Settings, run_id: str, leads: int, seed: int, rate: float
) -> dict[str, Any]:
    """Simulated traffic through one `default` worker; return the funnel and latency figures."""
    events = generate(leads, seed, lead_prefix=f"{run_id.strip('.')}-sim")
    ref = reference(load_ruleset("default"), [(e.kind, e.value) for e in events])
    want = {k: v for k, v in ref.final.items() if v != "lead"}
    await ensure_topics(settings)
    typer.echo(f"\nSimulated traffic: {len(events)} events from {leads} leads at {rate:g} events/s")
    worker = await start_worker(settings)
    log = ChangeLog()
    ready = asyncio.Event()
    follower = asyncio.create_task(_follow(settings, log, "sim", ready))
    try:
        await asyncio.wait_for(ready.wait(), SCENARIO_TIMEOUT_S)

        def stamp(event: SimEvent) -> None:
            log.sent_at[str(event.value["event_id"])] = time.monotonic()

        started = time.monotonic()
        await produce(settings, events, rate, on_send=stamp)
        done = await log.wait_until(lambda r: final_stages(r) == want, TRAFFIC_TIMEOUT_S)
        elapsed = time.monotonic() - started
    finally:
        follower.cancel()
        await _stop_all([worker])
        _forget([settings])
    finals = final_stages(log.records)
    reached = {
        stage: {r["lead_id"] for r in log.records if r["to_stage"] == stage}
        for stage in ("sql", "sqo", "disqualified")
    }
    expected_changes = sum(len(c) for c in ref.changes.values())
    ids = [r["change_id"] for r in log.records]
    return {
        "complete": done,
        "leads": leads,
        "events": len(events),
        "elapsed_s": elapsed,
        "final": {
            stage: sum(1 for v in finals.values() if v == stage)
            for stage in ("sql", "sqo", "disqualified")
        },
        "never_qualified": leads - len(finals),
        "reached": {k: len(v) for k, v in reached.items()},
        "expected_changes": expected_changes,
        "emitted": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "wrong_final": sum(1 for k, v in want.items() if finals.get(k) != v),
        "illegal": len(illegal_sequences(log.records)),
        "latencies_ms": log.latencies_ms,
    }


def _forget(deployments: Iterable[Settings]) -> None:
    """Remove the demo deployments' local state stores (their topics stay in Kafka)."""
    for settings in deployments:
        shutil.rmtree(
            settings.data_dir / "worker" / f"{settings.topic_prefix}{settings.app_id}",
            ignore_errors=True,
        )


def _save_logs(settings: Settings, workers: dict[str, WorkerProcess]) -> None:
    folder = settings.data_dir / "demo-logs"
    folder.mkdir(parents=True, exist_ok=True)
    for name, worker in workers.items():
        (folder / f"{name}.log").write_text("\n".join(worker.lines) + "\n", encoding="utf-8")
    typer.echo(f"Worker logs: {folder}", err=True)


async def _stop_all(workers: list[WorkerProcess]) -> None:
    await asyncio.gather(*(w.stop() for w in workers))


def _summary(passed: int, total: int, t: dict[str, Any], alerts: AlertsShown) -> bool:
    lat = t["latencies_ms"]
    sql, sqo = t["reached"]["sql"], t["reached"]["sqo"]
    typer.echo("\n================ leadq demo summary ================")
    typer.echo(f"Article scenarios         {passed}/{total} as expected")
    typer.echo(
        f"Simulated leads           {t['leads']} ({t['events']} events in {t['elapsed_s']:.1f} s)"
    )
    typer.echo(
        "Funnel (final stage)      "
        f"lead {t['never_qualified']}, sql {t['final']['sql']}, sqo {t['final']['sqo']},"
        f" disqualified {t['final']['disqualified']}"
    )
    typer.echo(f"Reached SQL / SQO         {sql} / {sqo}")
    typer.echo(
        f"Conversion SQL -> SQO     {sqo / sql:.1%}" if sql else "Conversion SQL -> SQO     n/a"
    )
    typer.echo(
        f"Stage changes             expected {t['expected_changes']}, emitted {t['emitted']},"
        f" duplicates {t['duplicates']}, wrong final stage {t['wrong_final']},"
        f" illegal sequences {t['illegal']}"
    )
    if lat:
        typer.echo(
            f"Latency produce -> change p50 {statistics.median(lat):.1f} ms,"
            f" p99 {_percentile(lat, 0.99):.1f} ms, max {max(lat):.1f} ms (n={len(lat)})"
        )
    typer.echo(f"Alerts (webhook)          {alerts.summary()}")
    typer.echo("====================================================")
    traffic_ok = t["complete"] and t["wrong_final"] == 0 and t["illegal"] == 0
    return passed == total and traffic_ok and alerts.ok


async def run_demo(
    settings: Settings,
    leads: int,
    seed: int,
    rate: float,
    api_settings: ApiSettings | None = None,
    keep_running: bool = False,
) -> int:
    """Run the whole demo; 0 when every check held. The funnel page of the simulated
    traffic is served from its start to the end (with keep_running, until Ctrl-C)."""
    stop_broker = _maybe_start_broker(settings)
    run_id = f"demo-{int(time.time())}."
    try:
        passed, total = await _scenarios(settings, run_id)
        alerts = await show_alerts(settings, run_id)
        sim = _sim_settings(settings, run_id)
        port = settings.web_port if settings.web_port is not None else DEFAULT_PORT
        api = await _start_api(sim, api_settings or ApiSettings(), port)
        try:
            typer.echo(f"\nThe live funnel page of the simulated traffic: {api.url}/")
            traffic = await _traffic(sim, run_id, leads, seed, rate)
            ok = _summary(passed, total, traffic, alerts)
            typer.echo(f"Funnel page               {api.url}/")
            if keep_running:
                typer.echo("Serving the funnel page until Ctrl-C ...")
                await api.wait()
        finally:
            await api.stop()
    finally:
        if stop_broker is not None:
            typer.echo("Stopping the local broker ...", err=True)
            stop_broker()
    return 0 if ok else 1
