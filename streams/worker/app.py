"""The Faust application: create_app(settings) builds it; `app` is the module-level instance."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
from faust.types import AgentT

from streams.core.qualify import Qualifier
from streams.core.ruleset import Ruleset, load_ruleset
from streams.settings import Settings
from streams.worker.faust_ext import bulk_restore
from streams.worker.faust_ext import fixes as faust_fixes
from streams.worker.faust_ext.changelog_batches import FaustChangelog
from streams.worker.faust_ext.lag import committed_lag
from streams.worker.ingest import COMMIT_INTERVAL_S, Ingest
from streams.worker.kafka_clients import faust_credentials, kafka_client_kwargs
from streams.worker.lead_store import CHANGELOG_BATCH_BYTES, ChangelogSender, LeadStore
from streams.worker.metrics import WorkerMetrics
from streams.worker.originals import InputReader, OriginalSource
from streams.worker.outputs import DeadLetters, OutputProducer, RecordSender, TopicSender
from streams.worker.qualify_agent import QualifyAgent
from streams.worker.shadow import Shadow
from streams.worker.timers import DueIndex, TickTimer
from streams.worker.topics import LEAD_TABLE, SHADOW_TABLE, TopicNames
from streams.worker.web import WorkerWeb


@dataclass(frozen=True)
class Worker:
    """The pieces of a built app that tests and the CLI reach for."""

    app: faust.App
    settings: Settings
    topics: TopicNames
    qualifier: Qualifier
    table: faust.Table  # lead key (bytes) -> encoded LeadState (bytes)
    ingest: Ingest
    outputs: RecordSender  # the OutputProducer, unless build() was given another
    agent: QualifyAgent
    qualify: AgentT  # the faust agent running `agent`
    by_lead: faust.TopicT
    stage_changes: faust.TopicT
    dead_letter: faust.TopicT
    due: DueIndex
    metrics: WorkerMetrics
    shadow: Shadow | None = None  # the shadow ruleset's part, when one is configured


def is_ready(app: faust.App, ingest: Ingest) -> bool:
    """Whether the worker has its partitions and has recovered its state, and is not in a
    rebalance."""
    return (
        bool(ingest.assigned())
        and bool(app.consumer.assignment())
        and app.tables.recovery.completed.is_set()
        and not app.rebalancing
    )


def create_app(settings: Settings | None = None, rules: Ruleset | None = None) -> faust.App:
    """Build a Faust app for one deployment (topic prefix, ruleset, broker)."""
    return build(settings, rules).app


def build(
    settings: Settings | None = None,
    rules: Ruleset | None = None,
    *,
    outputs: RecordSender | None = None,
    dead_letter_sender: TopicSender | None = None,
    originals: OriginalSource | None = None,
    changelog: ChangelogSender | None = None,
) -> Worker:
    """Build the app and return it with its agents, table and topics.

    `outputs` (stage changes, hand-overs) and `dead_letter_sender` replace the worker's own
    producer and faust's dead-letter topic as where the qualify agent sends its records;
    `originals` replaces the reader of input messages that its dead letters carry;
    `changelog`, faust's producer as the sender of the lead states' changelog records.
    """
    faust_fixes.apply()
    settings = settings or Settings()
    ruleset = rules or load_ruleset(settings.rules)
    shadow_ruleset = load_ruleset(settings.shadow_rules) if settings.shadow_rules else None
    qualifier = Qualifier(ruleset)
    names = TopicNames.of(settings)
    app = faust.App(
        settings.worker_group,
        broker=[f"kafka://{server}" for server in settings.bootstrap_list],
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        # One folder per deployment: workers of several deployments can share a data dir.
        datadir=str(settings.data_dir / "worker" / f"{settings.topic_prefix}{settings.app_id}"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,  # the worker serves its own endpoints (web.py)
        web_bind=settings.web_host,
        web_host=settings.web_host,
        # Start and rebalance in about a second instead of the defaults' tens of seconds.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=10.0,
        broker_commit_interval=COMMIT_INTERVAL_S,
        stream_recovery_delay=0.0,
        stream_wait_empty=False,
        table_standby_replicas=0,
        producer_acks=-1,
        producer_linger=0.002,
        producer_max_batch_size=CHANGELOG_BATCH_BYTES,
        key_serializer="raw",
        value_serializer="raw",
        logging_config=None,
        # Recovery restores the table from its changelog in large batches (bulk_restore.py).
        TableManager=bulk_restore.table_manager(kafka_client_kwargs(settings)),
    )
    by_lead = app.topic(
        names.events_by_lead,
        partitions=settings.partitions,
        key_serializer="raw",
        value_serializer="raw",
    )
    stage_changes = app.topic(names.stage_changes, key_serializer="raw", value_serializer="raw")
    dead_letter = app.topic(names.dead_letter, key_serializer="raw", value_serializer="raw")
    table = app.Table(
        LEAD_TABLE,
        default=None,
        partitions=settings.partitions,
        # Values are the lead state as JSON bytes, encoded and decoded here: faust's table
        # codecs are not applied when a table is recovered from its changelog.
        key_type=bytes,
        value_type=bytes,
    )

    metrics = WorkerMetrics()
    ingest = Ingest(settings, metrics, loop=app.loop, beacon=app.beacon)
    if settings.web_port is not None:
        # Started first, so that /healthz and /readyz answer while the rest starts (and
        # /metrics as soon as the worker says it is ready).
        web = WorkerWeb(
            settings.web_host,
            settings.web_port,
            metrics,
            partial(is_ready, app, ingest),
            loop=app.loop,
            beacon=app.beacon,
        )
        app.service(web)
    app.service(ingest)
    if outputs is None:
        producer = OutputProducer(settings, loop=app.loop, beacon=app.beacon)
        app.service(producer)
        outputs = producer

    if originals is None:
        reader = InputReader(settings, loop=app.loop, beacon=app.beacon)
        app.service(reader)
        originals = reader

    def due_index(of: Qualifier) -> DueIndex:
        return DueIndex(
            of,
            settings.timer_rescan_s,
            wall_clock=settings.timer_clock == "wall",
            input_idle=lambda: ingest.idle,
        )

    due = due_index(qualifier)
    shadow = None
    if shadow_ruleset is not None:
        shadow_qualifier = Qualifier(shadow_ruleset, sla=False)  # a shadow sends no SLA events
        shadow = Shadow(
            qualifier=shadow_qualifier,
            # The shadow state of each lead, as `table` (its own changelog).
            table=app.Table(
                SHADOW_TABLE,
                default=None,
                partitions=settings.partitions,
                key_type=bytes,
                value_type=bytes,
            ),
            due=due_index(shadow_qualifier),
        )

    def track(sent: asyncio.Future[Any]) -> None:
        # Looked up when used, so that building the app does not create faust's producer
        # (building stays free of Kafka clients, as it was before the lead store).
        faust_fixes.send_tracker(app.producer.buffer).track(sent)

    leads = LeadStore(table, changelog or FaustChangelog(app), track)
    agent = QualifyAgent(
        app=app,
        qualifier=qualifier,
        leads=leads,
        outputs=outputs,
        dead_letters=DeadLetters(dead_letter_sender or dead_letter, originals),
        due=due,
        names=names,
        metrics=metrics,
        shadow=shadow,
        source=f"leadq/{settings.app_id}",
        rekey_format=settings.rekey_format,
    )
    qualify = app.agent(by_lead, name="qualify")(agent.run)
    if qualifier.timed:
        app.timer(settings.timer_interval_s)(
            TickTimer(due, table, by_lead, settings.partitions).run
        )
    if shadow is not None and shadow.qualifier.timed:
        # The shadow's due leads get ticks of their own; a tick applies what is due to both.
        shadow_timer = TickTimer(shadow.due, shadow.table, by_lead, settings.partitions)
        app.timer(settings.timer_interval_s)(shadow_timer.run)

    @app.on_rebalance_complete.connect  # type: ignore[untyped-decorator]
    async def _rescan(sender: object, **kwargs: object) -> None:
        # Sent once a rebalance's recovery is over; a worker's first rescan may have come
        # before its partitions were assigned.
        due.rescan_soon()
        if shadow is not None:
            shadow.due.rescan_soon()

    metrics.lag_sources += [ingest.lag, partial(committed_lag, app, {names.events_by_lead})]

    return Worker(
        app,
        settings,
        names,
        qualifier,
        table,
        ingest,
        outputs,
        agent,
        qualify,
        by_lead,
        stage_changes,
        dead_letter,
        due,
        metrics,
        shadow,
    )


def __getattr__(name: str) -> Any:
    """The module-level `app` (for `faust -A streams.worker.app`), built from the environment on
    first use rather than at import, so that a bad setting is reported as such."""
    if name == "app":
        built = create_app()
        globals()["app"] = built
        return built
    raise AttributeError(name)
