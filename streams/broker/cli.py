"""``leadq broker start|stop|status``: a local single-node Apache Kafka broker, no Docker.

Exit codes: ``start`` 0 (prints the bootstrap address ``host:port`` as its last stdout
line; progress goes to stderr); ``status`` 0 when running (``running HOST:PORT (pid N)``)
and 1 when not (``not running``); ``stop`` 0 whether or not a broker ran (``stopped`` /
``not running``). Errors print ``error: <sentence>`` to stderr and exit as every leadq
command does (docs/cli.md): 2 for bad usage or bad input (options that do not go together,
invalid settings), 1 when the broker cannot be started or stopped (no Java, a busy port ...).

``start --nodes 3`` starts a local cluster instead: three KRaft nodes (broker and
controller each) on ``--port``, ``--port + 2`` and ``--port + 4`` (controllers on the ports
after them), every topic replicated to all three; it prints the comma-separated bootstrap
list. ``stop`` and ``status`` find the cluster by its data directory (``status`` prints one
line per node, exit 0 only when all run).

``start --secure`` adds a SASL_SSL listener (SCRAM-SHA-512, a certificate signed by a CA
made for this data directory) on ``--secure-port`` and writes the contract's KAFKA_*
client variables, password included, to ``<data dir>/secure/client.env`` (owner-only).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from streams.broker.cluster import LocalCluster
from streams.broker.errors import BrokerError
from streams.broker.node import LocalBroker
from streams.broker.tls import BrokerSecurity
from streams.settings import Settings

broker_app = typer.Typer(
    name="broker",
    help="Run a local single-node Apache Kafka broker (KRaft, no Docker).",
    no_args_is_help=True,
    add_completion=False,
)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        file_okay=False,
        help="Broker data directory [default: $LEADQ_DATA_DIR/broker, where LEADQ_DATA_DIR "
        "defaults to ~/.local/share/leadq].",
        show_default=False,
    ),
]


class _StderrProgress(logging.Handler):
    """Writes the broker tools' progress messages, bare, to the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(self.format(record), err=True)


def _show_progress() -> None:
    logger = logging.getLogger("streams.broker")
    if not any(isinstance(handler, _StderrProgress) for handler in logger.handlers):
        logger.addHandler(_StderrProgress(logging.INFO))
    logger.setLevel(logging.INFO)
    logger.propagate = False


class _UsageError(BrokerError):
    """Bad usage or bad input, rather than a broker that failed."""


def _fail(exc: BrokerError) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2 if isinstance(exc, _UsageError) else 1)


def _data_dir(data_dir: Path | None) -> Path:
    if data_dir is None:
        try:
            data_dir = Settings().data_dir / "broker"
        except ValidationError as exc:
            first = exc.errors()[0]
            raise _UsageError(
                f"the leadq environment settings are invalid ({first['msg']}); fix the "
                "variable or pass --data-dir."
            ) from exc
    return data_dir


def _broker(data_dir: Path | None, port: int = 9092, secure_port: int | None = None) -> LocalBroker:
    security = BrokerSecurity(port=secure_port) if secure_port is not None else None
    return LocalBroker(data_dir=_data_dir(data_dir), port=port, security=security)


def _start_cluster(data_dir: Path | None, nodes: int, port: int, timeout: float) -> str:
    root = _data_dir(data_dir)
    existing = LocalCluster.existing(root)
    if nodes == 1:
        if existing is not None:
            raise _UsageError(
                f"{root} holds a {existing.size}-node cluster; start it with "
                f"--nodes {existing.size} or use another --data-dir."
            )
        return _broker(root, port).start(timeout=timeout)
    return LocalCluster(root, size=nodes, base_port=port).start(timeout=timeout)


@broker_app.command()
def start(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Broker (PLAINTEXT) port.")
    ] = 9092,
    data_dir: DataDirOption = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0, help="Seconds to wait for the broker to answer after launch."
        ),
    ] = 60.0,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="Also listen for SASL_SSL clients (SCRAM-SHA-512, certificate of a local CA); "
            "the KAFKA_* client settings, password included, go to <data dir>/secure/client.env.",
        ),
    ] = False,
    secure_port: Annotated[
        int | None,
        typer.Option(
            "--secure-port",
            min=1,
            max=65535,
            help="SASL_SSL port with --secure (default: --port + 2).",
            show_default=False,
        ),
    ] = None,
    nodes: Annotated[
        int,
        typer.Option(
            "--nodes",
            min=1,
            max=9,
            help="Start a local cluster of this many nodes (e.g. 3), every topic replicated "
            "to all of them.",
        ),
    ] = 1,
) -> None:
    """Start the broker unless it already runs; print its bootstrap address."""
    _show_progress()
    if secure and secure_port is None:
        secure_port = port + 2 if port <= 65533 else port - 2
    secure = secure or secure_port is not None
    try:
        if secure and nodes > 1:
            raise _UsageError("--secure works with a single node only; leave out --nodes.")
        if nodes > 1 and port > 65535 - 2 * nodes:
            raise _UsageError(
                f"--port {port} leaves no room for {nodes} nodes; choose a port up to "
                f"{65535 - 2 * nodes}."
            )
        if secure:
            bootstrap = _broker(data_dir, port, secure_port).start(timeout=timeout)
        else:
            bootstrap = _start_cluster(data_dir, nodes, port, timeout)
    except BrokerError as exc:
        _fail(exc)
    typer.echo(bootstrap)


@broker_app.command()
def stop(
    data_dir: DataDirOption = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0, help="Seconds to wait after SIGTERM before SIGKILL."),
    ] = 15.0,
) -> None:
    """Stop the broker gracefully; print 'stopped' or 'not running' (exit 0 either way)."""
    _show_progress()
    try:
        cluster = LocalCluster.existing(_data_dir(data_dir))
        target = cluster if cluster is not None else _broker(data_dir)
        stopped = target.stop(timeout=timeout)
    except BrokerError as exc:
        _fail(exc)
    typer.echo("stopped" if stopped else "not running")


@broker_app.command()
def status(data_dir: DataDirOption = None) -> None:
    """Print 'running HOST:PORT (pid N)' and exit 0, or 'not running' and exit 1.

    For a cluster: one such line per node, prefixed 'node N'; exit 0 only when all run.
    """
    try:
        cluster = LocalCluster.existing(_data_dir(data_dir))
        states = cluster.status() if cluster is not None else [_broker(data_dir).status()]
    except BrokerError as exc:
        _fail(exc)
    if len(states) > 1:
        for node_id, node in enumerate(states, start=1):
            running = f"running {node.bootstrap} (pid {node.pid})"
            typer.echo(f"node {node_id} {running if node.running else 'not running'}")
        if not all(node.running for node in states):
            raise typer.Exit(1)
        return
    state = states[0]
    if not state.running:
        typer.echo("not running")
        raise typer.Exit(1)
    typer.echo(f"running {state.bootstrap} (pid {state.pid})")
