"""Kill -9, rebalance, broker restart and a cluster node's crash; nothing lost, nothing wrong."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.broker.cluster import LocalCluster
from streams.broker.node import LocalBroker
from streams.settings import Settings
from streams.tools.simulate.output import produce
from streams.worker.launch import start_worker
from streams.worker.topics import TopicNames, ensure_topics
from tests.reliability.harness import (
    FULL,
    Figures,
    Supervisor,
    Workload,
    chaos_kills,
    judge,
    partition_leaders,
    read_all,
    replica_counts,
    wait_complete,
    wait_leaders_elsewhere,
)
from tests.support.kafka import collect
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

LEADS = 2000 if FULL else 400
EVENTS = 50_000 if FULL else 6_000
# Each kill -9 costs a restart that waits out the dead member's 10 s session. The short run
# proves the mechanism with two: a restart on the local state, then one from scratch.
KILLS = 20 if FULL else 2
WIPE_EVERY = 3 if FULL else 2
RATE = 1000.0 if FULL else 600.0
CLUSTER_START_TIMEOUT_S = 180.0
FAILOVER_TIMEOUT_S = 60.0
DOWN_TIMEOUT_S = 300.0


def assert_clean(fig: Figures) -> None:
    assert fig.lost == 0, fig.notes
    assert fig.wrong == 0, fig.notes


async def test_worker_killed_again_and_again(
    settings: Settings, tmp_path: Path, record_figures: list[Figures]
) -> None:
    work = Workload.simulated(LEADS, seed=101, events=EVENTS)
    await ensure_topics(settings)
    supervisor = Supervisor(settings, tmp_path / "worker")
    await supervisor.start()
    feeding = asyncio.create_task(produce(settings, work.events, RATE))
    try:
        kills = await chaos_kills(supervisor, KILLS, random.Random(7), feeding, WIPE_EVERY)
        records = await wait_complete(settings, work)
    finally:
        await supervisor.stop()
    fig = judge("worker kill -9", work, records, max(supervisor.recoveries[1:]))
    fig.faults = kills
    record_figures.append(fig)
    assert kills >= KILLS
    assert_clean(fig)


async def test_rebalance_kill_one_of_two_then_a_third_joins(
    settings: Settings, tmp_path: Path, record_figures: list[Figures]
) -> None:
    work = Workload.simulated(LEADS, seed=202, events=EVENTS)
    await ensure_topics(settings)
    first = await start_worker(settings, data_dir=tmp_path / "w1")
    second = await start_worker(settings, data_dir=tmp_path / "w2")
    feeding = asyncio.create_task(produce(settings, work.events, RATE))
    third = None
    try:
        # Mid-stream: a third of the input is out.
        await asyncio.sleep(len(work.events) / RATE / 3)  # fault schedule, not a sync
        first.ready.clear()
        killed_at = time.monotonic()
        await second.stop(sig=9)
        await first.wait_ready()  # the survivor has taken over every partition
        recover_s = time.monotonic() - killed_at
        third = await start_worker(settings, data_dir=tmp_path / "w3")
        await feeding
        records = await wait_complete(settings, work)
    finally:
        for w in (first, second, third):
            if w is not None:
                await w.stop()
    fig = judge("rebalance (2 workers, kill 1, 3rd joins)", work, records, recover_s)
    fig.faults = 2
    record_figures.append(fig)
    assert_clean(fig)


# Short: one guest killed (-9), one stopped cleanly.
STORM_CYCLES = 8 if FULL else 2


async def test_rebalance_storm_a_third_worker_comes_and_goes(
    settings: Settings, tmp_path: Path, record_figures: list[Figures]
) -> None:
    """Two workers stay; a third joins and is killed (-9) again and again. Every join and
    every kill moves partitions, with messages fetched before each rebalance in flight."""
    work = Workload.simulated(LEADS, seed=303, events=EVENTS)
    await ensure_topics(settings)
    steady = [
        await start_worker(settings, data_dir=tmp_path / "w1"),
        await start_worker(settings, data_dir=tmp_path / "w2"),
    ]
    # Paced so that the stream lasts through the storm (a join or a leave takes seconds).
    feeding = asyncio.create_task(produce(settings, work.events, EVENTS / (STORM_CYCLES * 8)))
    rng = random.Random(11)
    recoveries: list[float] = []
    faults = 0
    try:
        for cycle in range(STORM_CYCLES):
            guest = await start_worker(settings, data_dir=tmp_path / f"guest{cycle}")
            faults += 1
            await asyncio.sleep(rng.uniform(0.5, 2.0))  # fault schedule, not a sync
            steady[0].ready.clear()
            left_at = time.monotonic()
            # Alternately killed (the group waits out its session) and stopped cleanly.
            await guest.stop(sig=9 if cycle % 2 == 0 else 15)
            faults += 1
            await steady[0].wait_ready()  # the group has settled without the guest
            recoveries.append(time.monotonic() - left_at)
        await feeding
        records = await wait_complete(settings, work)
    finally:
        for w in steady:
            await w.stop()
    fig = judge("rebalance storm (3rd worker joins, killed)", work, records, max(recoveries))
    fig.faults = faults
    record_figures.append(fig)
    assert_clean(fig)


async def test_broker_restart_mid_stream(
    make_settings: Callable[..., Settings], tmp_path: Path, record_figures: list[Figures]
) -> None:
    broker = LocalBroker(data_dir=tmp_path / "broker", port=free_port())
    bootstrap = await asyncio.to_thread(broker.start, 120)
    settings = make_settings(kafka_bootstrap_servers=bootstrap)
    work = Workload.simulated(LEADS, seed=303, events=EVENTS)
    supervisor = Supervisor(settings, tmp_path / "worker")
    try:
        await ensure_topics(settings)
        await produce(settings, work.events, None)  # a backlog, durable before the fault
        await supervisor.start()
        await asyncio.sleep(2.0)  # fault schedule: the worker is busy with the backlog
        await asyncio.to_thread(broker.stop)
        began = time.monotonic()
        await asyncio.to_thread(broker.start, 120)
        recover_s = time.monotonic() - began
        assert supervisor.worker is not None
        if supervisor.worker.proc.returncode is not None:
            # It stopped itself rather than lose events (fail-stop): restart it like systemd.
            await supervisor.start()
        records = await wait_complete(settings, work)
    finally:
        await supervisor.stop()
        await asyncio.to_thread(broker.stop)
    fig = judge("broker restart", work, records, recover_s)
    fig.faults = 1
    record_figures.append(fig)
    assert_clean(fig)


async def test_cluster_node_killed_mid_stream(
    make_settings: Callable[..., Settings], tmp_path: Path, record_figures: list[Figures]
) -> None:
    cluster = LocalCluster(data_dir=tmp_path / "cluster", size=3)
    bootstrap = await asyncio.to_thread(cluster.start, CLUSTER_START_TIMEOUT_S)
    settings = make_settings(kafka_bootstrap_servers=bootstrap, replication_factor=3)
    work = Workload.simulated(LEADS, seed=404, events=EVENTS)
    supervisor = Supervisor(settings, tmp_path / "worker")
    feeding: asyncio.Task[int] | None = None
    try:
        await ensure_topics(settings)
        await supervisor.start()
        feeding = asyncio.create_task(produce(settings, work.events, RATE))
        await asyncio.sleep(len(work.events) / RATE / 3)  # fault schedule: a third is out
        topics = TopicNames.of(settings).all()
        leaders = Counter(await partition_leaders(settings, topics))
        victim = max((n for n in leaders if n >= 0), key=lambda n: leaders[n])
        before = len(await read_all(settings))
        killed_at = time.monotonic()
        await asyncio.to_thread(cluster.stop_node, victim, kill=True)
        await wait_leaders_elsewhere(settings, topics, victim, FAILOVER_TIMEOUT_S)
        recover_s = time.monotonic() - killed_at
        # Down until the worker has gone on without it: an eighth of the remaining changes.
        step = max(1, (work.expected_changes - before) // 8)
        await collect(
            settings,
            "leads.stage-changes",
            until=lambda r: len(r) >= before + step,
            timeout=DOWN_TIMEOUT_S,
        )
        down_s = time.monotonic() - killed_at
        await asyncio.to_thread(cluster.start_node, victim, CLUSTER_START_TIMEOUT_S)
        back_s = time.monotonic() - killed_at
        await feeding
        input_done_at = time.monotonic()
        records = await wait_complete(settings, work)
        finish_s = time.monotonic() - input_done_at
        replicas = await replica_counts(settings)
    finally:
        if feeding is not None and not feeding.done():
            feeding.cancel()
        await supervisor.stop()
        await asyncio.to_thread(cluster.stop)
    fig = judge("3-node cluster, kill -9 of a broker", work, records, recover_s)
    fig.faults = 1
    fig.notes.append(
        f"killed node {victim} (led {leaders[victim]} of {sum(leaders.values())} partitions)"
        f"; kept down {down_s:.1f} s, while {step} more changes were emitted; "
        f"back in the cluster {back_s:.1f} s after the kill; done {finish_s:.0f} s after the input"
    )
    record_figures.append(fig)
    assert_clean(fig)
    # Every topic of the deployment, faust's own included, is on all three nodes.
    assert {t: {3} for t in replicas} == replicas
    assert set(topics) <= set(replicas)
