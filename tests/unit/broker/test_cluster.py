"""Fast tests of the local multi-node cluster: generated configuration, layout, kill; no JVM."""

from __future__ import annotations

import json
import signal
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.broker.cli import broker_app
from streams.broker.cluster import LocalCluster, cluster_properties
from streams.broker.errors import BrokerError
from streams.broker.node import LocalBroker
from streams.broker.process import PidRecord, exit_code, spawn
from tests.support.broker import parse_properties


def _node_properties(node: LocalBroker) -> dict[str, str]:
    assert node.controller_port is not None
    return parse_properties(node.server_properties(node.controller_port))


def test_each_node_gets_its_id_ports_and_the_shared_quorum(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "c", size=3, base_port=29200)
    nodes = cluster.nodes()
    props = [_node_properties(n) for n in nodes]
    voters = "1@127.0.0.1:29201,2@127.0.0.1:29203,3@127.0.0.1:29205"
    for i, (node, p) in enumerate(zip(nodes, props, strict=True), start=1):
        broker, controller = 29200 + 2 * (i - 1), 29201 + 2 * (i - 1)
        assert p["node.id"] == str(i)
        assert p["process.roles"] == "broker,controller"
        assert p["controller.quorum.voters"] == voters
        assert p["listeners"] == (
            f"PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}"
        )
        assert p["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{broker}"
        assert p["log.dirs"] == str((tmp_path / "c" / f"node-{i}" / "kraft").resolve())
        assert node.heap == "384m"
    assert cluster.bootstrap == "127.0.0.1:29200,127.0.0.1:29202,127.0.0.1:29204"
    assert len({n.cluster_id for n in nodes}) == 1
    assert nodes[0].cluster_id


def test_topics_internal_ones_included_are_replicated_to_all_three(tmp_path: Path) -> None:
    want = {
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "offsets.topic.replication.factor": "3",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
        "share.coordinator.state.topic.replication.factor": "3",
        "share.coordinator.state.topic.min.isr": "2",
        "unclean.leader.election.enable": "false",
    }
    for node in LocalCluster(tmp_path, base_port=29300).nodes():
        props = _node_properties(node)
        assert {key: props[key] for key in want} == want


def test_extra_properties_override_on_every_node(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, base_port=29400, properties={"min.insync.replicas": "3"})
    assert {_node_properties(n)["min.insync.replicas"] for n in cluster.nodes()} == {"3"}


@pytest.mark.parametrize(("size", "majority"), [(1, "1"), (3, "2"), (5, "3")])
def test_min_insync_is_a_majority(size: int, majority: str) -> None:
    props = cluster_properties(size)
    assert props["default.replication.factor"] == str(size)
    assert props["min.insync.replicas"] == majority


def test_free_ports_and_cluster_id_are_kept_across_instances(tmp_path: Path) -> None:
    first = LocalCluster(tmp_path)
    nodes = first.nodes()
    ports = [p for n in nodes for p in (n.port, n.controller_port)]
    assert len(set(ports)) == 6
    again = LocalCluster(tmp_path).nodes()
    assert [(n.port, n.controller_port, n.cluster_id) for n in again] == [
        (n.port, n.controller_port, n.cluster_id) for n in nodes
    ]
    stored = json.loads((tmp_path / "cluster.json").read_text(encoding="utf-8"))
    assert stored["cluster_id"] == nodes[0].cluster_id


def test_a_stored_layout_of_another_shape_is_refused(tmp_path: Path) -> None:
    LocalCluster(tmp_path, size=3, base_port=29500).nodes()
    with pytest.raises(BrokerError, match="has 3 nodes from port 29500") as caught:
        LocalCluster(tmp_path, size=5).nodes()
    assert "\n" not in str(caught.value)
    with pytest.raises(BrokerError, match="has 3 nodes"):
        LocalCluster(tmp_path, size=3, base_port=29600).nodes()
    (tmp_path / "cluster.json").write_text("{", encoding="utf-8")
    with pytest.raises(BrokerError, match="unreadable"):
        LocalCluster(tmp_path).nodes()


def test_invalid_sizes_and_ports_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="not supported"):
        LocalCluster(tmp_path, size=0)
    with pytest.raises(BrokerError, match="no room"):
        LocalCluster(tmp_path, base_port=65533)
    with pytest.raises(BrokerError, match="fixed controller port"):
        LocalBroker(tmp_path, quorum_voters="1@127.0.0.1:1,2@127.0.0.1:2")
    with pytest.raises(BrokerError, match="no node 4"):
        LocalCluster(tmp_path, base_port=29700).node(4)


def test_nothing_started_nothing_to_stop(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "never")
    assert cluster.status() == []
    assert cluster.stop() is False
    assert not (tmp_path / "never").exists()


def test_storage_is_formatted_with_the_shared_cluster_id_by_a_light_jvm(tmp_path: Path) -> None:
    calls = tmp_path / "java-calls"
    java = tmp_path / "java"
    java.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n', encoding="utf-8")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    nodes = LocalCluster(tmp_path / "c", base_port=29800).nodes()
    for node in nodes:
        node.format_storage(java, tmp_path / "libs")
    lines = calls.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert all(f"format -t {nodes[0].cluster_id} -c " in line for line in lines)
    # Lighter JVMs: three of them share a few cores.
    assert all(line.startswith("-XX:+UseSerialGC -XX:TieredStopAtLevel=1 ") for line in lines)


def test_kill_sends_sigkill_to_the_node_and_forgets_it(tmp_path: Path) -> None:
    node = LocalCluster(tmp_path, base_port=29900).node(2)
    node.root.mkdir(parents=True)
    # A stand-in process whose command line looks like this node's broker.
    pid = spawn(
        [
            "/bin/sh",
            "-c",
            "trap '' TERM; while :; do sleep 1; done",
            "kafka.Kafka",
            str(node.server_properties_path),
        ],
        tmp_path / "out.log",
    )
    PidRecord(pid, node.advertised_host, node.port, 29901).write(node.pid_file)
    assert node.status().running
    assert LocalCluster(tmp_path, base_port=29900).stop_node(2, kill=True) is True
    assert exit_code(pid) == -signal.SIGKILL
    assert not node.pid_file.exists()
    assert node.kill() is False


def test_cli_status_and_stop_of_a_cluster_that_does_not_run(tmp_path: Path) -> None:
    LocalCluster(tmp_path, base_port=30000).nodes()  # the layout a start would leave
    runner = CliRunner()
    status = runner.invoke(broker_app, ["status", "--data-dir", str(tmp_path)])
    assert status.exit_code == 1
    assert status.stdout.splitlines() == [f"node {i} not running" for i in (1, 2, 3)]
    stop = runner.invoke(broker_app, ["stop", "--data-dir", str(tmp_path)])
    assert (stop.exit_code, stop.stdout) == (0, "not running\n")


def test_cli_refuses_a_single_node_start_in_a_cluster_directory(tmp_path: Path) -> None:
    LocalCluster(tmp_path, base_port=30100).nodes()
    result = CliRunner().invoke(broker_app, ["start", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "holds a 3-node cluster; start it with --nodes 3" in result.stderr
    secure = CliRunner().invoke(
        broker_app, ["start", "--data-dir", str(tmp_path), "--nodes", "3", "--secure"]
    )
    assert secure.exit_code == 2
    assert "--secure works with a single node only" in secure.stderr
