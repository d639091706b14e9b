"""A local multi-node KRaft Apache Kafka cluster: combined broker+controller nodes, one quorum."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.broker.errors import BrokerError
from streams.broker.jars import default_cache_dir
from streams.broker.net import host_port, port_free
from streams.broker.node import LocalBroker
from streams.broker.process import BrokerStatus
from streams.broker.storage import kafka_uuid
from streams.broker.waiting import run_async, wait_for

__all__ = ["LocalCluster", "NodeLayout", "cluster_properties"]

LAYOUT_FILE = "cluster.json"
_PROBE_S = 5.0
_PROBE_INTERVAL_S = 0.5
_PORT_RELEASE_S = 30.0
# Several JVMs share a few cores: one GC thread and the quick C1 compiler only roughly
# halve their start-up (12 s instead of 25 s for three nodes on 2 busy cores).
JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


def cluster_properties(size: int) -> dict[str, str]:
    """Broker settings every node of a ``size``-node cluster shares.

    Every topic, the internal ones included, is replicated to all nodes and needs a
    majority of them in sync, so any one node of three can die without losing an
    acknowledged (acks=all) write or stopping writes. A dead node is fenced, and its
    partitions led elsewhere, after 4 s without a heartbeat (Kafka's default: 9 s).
    """
    replicas = str(size)
    majority = str(size // 2 + 1)
    return {
        "default.replication.factor": replicas,
        "min.insync.replicas": majority,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "12",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": majority,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": majority,
        "unclean.leader.election.enable": "false",
        "broker.heartbeat.interval.ms": "1000",
        "broker.session.timeout.ms": "4000",
    }


@dataclass(frozen=True)
class NodeLayout:
    """One node's id and ports."""

    node_id: int
    port: int
    controller_port: int


@dataclass(frozen=True)
class _Layout:
    cluster_id: str
    nodes: tuple[NodeLayout, ...]


def _read_layout(data_dir: Path) -> _Layout | None:
    """The layout stored in a cluster's data directory, or None when there is none."""
    path = data_dir / LAYOUT_FILE
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        return _Layout(
            str(stored["cluster_id"]), tuple(NodeLayout(**node) for node in stored["nodes"])
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BrokerError(
            f"the cluster layout {path} is unreadable ({exc}); delete "
            f"{data_dir} to start a new cluster."
        ) from exc


def _free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports the operating system has free now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.ExitStack() as stack:
        socks = [
            stack.enter_context(socket.socket(family, socket.SOCK_STREAM)) for _ in range(count)
        ]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


async def _broker_count(bootstrap: str, seconds: float) -> int:
    """How many brokers the cluster reports through ``bootstrap`` (0 when it does not answer)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="leadq-cluster-probe",
        request_timeout_ms=int(seconds * 1000),
    )
    try:
        async with asyncio.timeout(seconds):
            await admin.start()
            cluster: dict[str, Any] = await admin.describe_cluster()
        return len(cluster.get("brokers") or ())
    except (KafkaError, OSError, TimeoutError):
        return 0
    finally:
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await admin.close()


@dataclass(frozen=True)
class LocalCluster:
    """``size`` KRaft nodes, each broker and controller in one JVM, under ``data_dir``.

    Node ``i`` (1-based) lives in ``data_dir/node-<i>`` as a :class:`LocalBroker`. All
    nodes share one cluster id and a static quorum of ``size`` voters. The cluster id and
    the ports are chosen at the first start and kept in ``data_dir/cluster.json``, since a
    static quorum cannot move: ``base_port`` None takes free ports, else node ``i`` listens
    on ``base_port + 2(i-1)`` and its controller on the port after it. ``properties`` adds
    to or overrides :func:`cluster_properties` on every node.
    """

    data_dir: Path
    size: int = 3
    base_port: int | None = None
    host: str = "127.0.0.1"
    heap: str = "384m"
    cache_dir: Path = field(default_factory=default_cache_dir)
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not 1 <= self.size <= 9:
            raise BrokerError(f"a local cluster of {self.size} nodes is not supported; use 1 to 9.")
        if self.base_port is not None and not 0 < self.base_port <= 65535 - 2 * self.size:
            raise BrokerError(
                f"the base port {self.base_port} leaves no room for {self.size} nodes; "
                "choose a number between 1024 and 65000."
            )

    @classmethod
    def existing(cls, data_dir: Path) -> LocalCluster | None:
        """The cluster a data directory holds (its stored size), or None when it holds none."""
        layout = _read_layout(data_dir)
        return None if layout is None else cls(data_dir=data_dir, size=len(layout.nodes))

    @property
    def root(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def layout_file(self) -> Path:
        return self.root / LAYOUT_FILE

    def _planned_layout(self) -> _Layout:
        if self.base_port is None:
            ports = _free_ports(self.host, 2 * self.size)
        else:
            ports = list(range(self.base_port, self.base_port + 2 * self.size))
        nodes = tuple(NodeLayout(i + 1, ports[2 * i], ports[2 * i + 1]) for i in range(self.size))
        return _Layout(kafka_uuid(), nodes)

    def _layout(self) -> _Layout:
        """The stored layout, or a new one (stored) for a cluster started the first time."""
        layout = _read_layout(self.root)
        if layout is None:
            layout = self._planned_layout()
            self.root.mkdir(parents=True, exist_ok=True)
            payload = {"cluster_id": layout.cluster_id, "nodes": [vars(n) for n in layout.nodes]}
            self.layout_file.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
            return layout
        if len(layout.nodes) != self.size or (
            self.base_port is not None and layout.nodes[0].port != self.base_port
        ):
            first = layout.nodes[0].port if layout.nodes else "?"
            raise BrokerError(
                f"the cluster in {self.root} has {len(layout.nodes)} nodes from port {first}; "
                "start it that way, or delete the directory to start a new one."
            )
        return layout

    def nodes(self) -> list[LocalBroker]:
        """The nodes, node 1 first (creates the layout on first use)."""
        layout = self._layout()
        adv = LocalBroker(data_dir=self.root, host=self.host).advertised_host
        voters = ",".join(f"{n.node_id}@{host_port(adv, n.controller_port)}" for n in layout.nodes)
        props = {**cluster_properties(self.size), **self.properties}
        return [
            LocalBroker(
                data_dir=self.root / f"node-{n.node_id}",
                port=n.port,
                controller_port=n.controller_port,
                cache_dir=self.cache_dir,
                host=self.host,
                heap=self.heap,
                properties=props,
                node_id=n.node_id,
                cluster_id=layout.cluster_id,
                quorum_voters=voters,
                jvm_options=JVM_OPTIONS,
            )
            for n in layout.nodes
        ]

    def node(self, node_id: int) -> LocalBroker:
        """Node ``node_id`` (1-based)."""
        for node in self.nodes():
            if node.node_id == node_id:
                return node
        raise BrokerError(f"the cluster has no node {node_id}; use 1 to {self.size}.")

    @property
    def bootstrap(self) -> str:
        """Every node's address, comma-separated."""
        return ",".join(node.bootstrap for node in self.nodes())

    def status(self) -> list[BrokerStatus]:
        """Each node's process state (no network probe), node 1 first."""
        if not self.layout_file.is_file():
            return []
        return [node.status() for node in self.nodes()]

    def start(self, timeout: float = 120) -> str:
        """Start every node that is not running; return the bootstrap list once all serve.

        A node of a multi-voter quorum only answers once a majority of voters runs, so the
        nodes start side by side. Ready means: every node answers a metadata request and
        the cluster reports ``size`` brokers.
        """
        nodes = self.nodes()
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            futures = [pool.submit(node.start, timeout) for node in nodes]
            errors = [exc for f in futures if (exc := f.exception()) is not None]
        if errors:
            self.stop()
            raise errors[0]
        self._wait_for_brokers(self.size, timeout)
        return self.bootstrap

    def stop(self, timeout: float = 15) -> bool:
        """Stop every node (SIGTERM, then SIGKILL); return whether any ran."""
        if not self.layout_file.is_file():
            return False
        nodes = self.nodes()
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            stopped = list(pool.map(lambda node: node.stop(timeout), nodes))
        return any(stopped)

    def stop_node(self, node_id: int, *, kill: bool = False, timeout: float = 15) -> bool:
        """Stop one node cleanly, or with SIGKILL (``kill``); return whether it ran."""
        node = self.node(node_id)
        return node.kill() if kill else node.stop(timeout)

    def start_node(self, node_id: int, timeout: float = 120) -> str:
        """Start one node again; return the bootstrap list once the cluster has all brokers."""
        node = self.node(node_id)
        ports = (node.port, node.controller_port or node.port)
        # The ports of a node just killed can stay taken for a moment (its connections
        # are still being closed); its quorum peers expect it on the same ones.
        wait_for(lambda: all(port_free(self.host, p) for p in ports), _PORT_RELEASE_S)
        node.start(timeout)
        self._wait_for_brokers(self.size, timeout)
        return self.bootstrap

    def _wait_for_brokers(self, count: int, timeout: float) -> None:
        bootstrap = self.bootstrap
        if not wait_for(
            lambda: run_async(lambda: _broker_count(bootstrap, _PROBE_S)) >= count,
            timeout,
            _PROBE_INTERVAL_S,
        ):
            raise BrokerError(
                f"the cluster on {bootstrap} did not report {count} brokers within "
                f"{timeout:g} s; see the logs under {self.root}/node-*/logs."
            )
