"""One local KRaft Kafka node (broker and controller in one JVM): start, stop, status."""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streams.broker.config import log4j_config, node_properties, render_server_properties
from streams.broker.errors import BrokerError
from streams.broker.jars import DOWNLOAD_TIMEOUT, default_cache_dir, ensure_jars, kafka_home
from streams.broker.java import check_java, java_command
from streams.broker.logs import startup_failure
from streams.broker.net import choose_controller_port, host_port, wait_until_ready
from streams.broker.process import (
    BrokerStatus,
    PidRecord,
    exit_code,
    is_broker_process,
    spawn,
    terminate,
)
from streams.broker.storage import FORMAT_TIMEOUT, format_storage, is_formatted, kafka_uuid
from streams.broker.tls import (
    CA_FILE,
    CLIENT_ENV_FILE,
    SCRAM_MECHANISM,
    SECURE_DIR,
    BrokerSecurity,
    SecureFiles,
)
from streams.broker.versions import KAFKA_VERSION
from streams.broker.waiting import file_lock

__all__ = ["LocalBroker"]

_log = logging.getLogger(__name__)

_PID_FILE = "broker.pid"
_LOCK_FILE = ".broker.lock"


@dataclass(frozen=True)
class LocalBroker:
    """A single-node KRaft Kafka broker (broker and controller in one JVM) for development.

    Everything it writes lives in ``data_dir``: ``server.properties``, ``log4j2.properties``,
    the KRaft storage in ``kraft/``, logs in ``logs/`` and ``broker.pid`` while it runs.
    Jars are shared between data directories in ``cache_dir``.

    ``controller_port``: None means ``port + 1`` when that port is free, otherwise any free
    port the operating system hands out (the choice is made again at every start; a
    single-node quorum does not mind its controller moving). An explicit controller port
    must be free. ``host`` must be an address of this machine; it is also the advertised
    address (a wildcard host advertises the loopback address). ``properties`` adds to or
    overrides the generated ``server.properties`` entries.

    As one node of a cluster (see :mod:`streams.broker.cluster`): ``node_id``, the
    ``cluster_id`` its storage is formatted with (None: a fresh one) and the static
    ``quorum_voters`` (``id@host:port,...``; they need an explicit ``controller_port``).
    ``jvm_options`` go to every java command (broker and storage tool).
    """

    data_dir: Path
    port: int = 9092
    controller_port: int | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    host: str = "127.0.0.1"
    heap: str = "512m"
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    security: BrokerSecurity | None = None
    node_id: int = 1
    cluster_id: str | None = None
    quorum_voters: str | None = None
    jvm_options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.node_id < 0:
            raise BrokerError(f"the node id {self.node_id} is negative; use 0 or more.")
        if self.quorum_voters is not None and self.controller_port is None:
            raise BrokerError(
                "a node of a multi-voter quorum needs a fixed controller port; set one."
            )
        for name, value in (("port", self.port), ("controller port", self.controller_port)):
            if value is not None and not 0 < value < 65536:
                raise BrokerError(
                    f"the {name} {value} is not a TCP port; choose a number between 1024 and 65535."
                )
        if self.controller_port == self.port:
            raise BrokerError(
                f"the controller port must differ from the broker port {self.port}; "
                "choose another controller port or leave it unset."
            )
        if self.security is not None and self.security.port in (self.port, self.controller_port):
            raise BrokerError(
                f"the SASL_SSL port {self.security.port} must differ from the broker and "
                "controller ports; choose another one."
            )

    # ------------------------------------------------------------------ paths and addresses

    @property
    def root(self) -> Path:
        """``data_dir`` as an absolute path."""
        return self.data_dir.expanduser().resolve()

    @property
    def kafka_home(self) -> Path:
        """Where the jars of this Kafka version are cached (``libs/`` inside)."""
        return kafka_home(self.cache_dir)

    @property
    def server_properties_path(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j_config_path(self) -> Path:
        return self.root / "log4j2.properties"

    @property
    def storage_dir(self) -> Path:
        """The KRaft log directory (``log.dirs``)."""
        return self.root / "kraft"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def server_log(self) -> Path:
        """The broker's log4j log (INFO and above)."""
        return self.log_dir / "server.log"

    @property
    def stdout_log(self) -> Path:
        """The JVM's stdout and stderr (JVM errors; normally nearly empty)."""
        return self.log_dir / "stdout.log"

    @property
    def pid_file(self) -> Path:
        return self.root / _PID_FILE

    @property
    def advertised_host(self) -> str:
        """The address clients are told to use: ``host``, or loopback for a wildcard host."""
        if self.host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if self.host == "::":
            return "::1"
        return self.host

    @property
    def bootstrap(self) -> str:
        """The configured bootstrap address, ``host:port``."""
        return host_port(self.advertised_host, self.port)

    @property
    def secure_dir(self) -> Path:
        """Keystores, the CA certificate and the SCRAM password of the SASL_SSL listener."""
        return self.root / SECURE_DIR

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM) that clients of the SASL_SSL listener trust."""
        return self.secure_dir / CA_FILE

    @property
    def secure_bootstrap(self) -> str | None:
        """The SASL_SSL listener's address, ``host:port`` (None without ``security``)."""
        if self.security is None:
            return None
        return host_port(self.advertised_host, self.security.port)

    @property
    def client_env_file(self) -> Path:
        """KAFKA_* variables for clients of the SASL_SSL listener (owner-only file)."""
        return self.secure_dir / CLIENT_ENV_FILE

    @property
    def secure_files(self) -> SecureFiles | None:
        """The files of the SASL_SSL listener in :attr:`secure_dir` (None without security)."""
        if self.security is None:
            return None
        return SecureFiles(self.secure_dir, self.security)

    def sasl_password(self) -> str:
        """The SCRAM password of the SASL_SSL listener's user (created on first use)."""
        secure = self.secure_files
        if secure is None:
            raise BrokerError("this broker has no SASL_SSL listener; start it with security.")
        return secure.sasl_password()

    def client_env(self) -> dict[str, str]:
        """The contract's environment variables for a client of the SASL_SSL listener."""
        secure = self.secure_files
        if secure is None or self.secure_bootstrap is None:
            raise BrokerError("this broker has no SASL_SSL listener; start it with security.")
        return secure.client_env(self.secure_bootstrap)

    # ------------------------------------------------------------------ configuration files

    def server_properties(self, controller_port: int) -> str:
        """The text of ``server.properties`` for a given controller port."""
        props = node_properties(
            node_id=self.node_id,
            host=self.host,
            advertised_host=self.advertised_host,
            port=self.port,
            controller_port=controller_port,
            quorum_voters=self.quorum_voters,
            storage_dir=self.storage_dir,
        )
        secure = self.secure_files
        if secure is not None:
            props.update(secure.listener_properties(props, self.host, self.advertised_host))
        props.update(self.properties)
        return render_server_properties(props)

    def log4j_config(self) -> str:
        """A log4j2 configuration (properties format): INFO and above to ``logs/server.log``."""
        return log4j_config(self.server_log)

    # ------------------------------------------------------------------ public operations

    def ensure_jars(self) -> Path:
        """Download the broker's jars into ``cache_dir`` once; return the ``libs`` directory."""
        return ensure_jars(self.cache_dir)

    def status(self) -> BrokerStatus:
        """Whether this data directory's broker process runs (does not probe the network)."""
        record = self._running_record()
        if record is None:
            return BrokerStatus(running=False, pid=None, bootstrap=self.bootstrap)
        return BrokerStatus(running=True, pid=record.pid, bootstrap=record.bootstrap)

    def start(self, timeout: float = 60) -> str:
        """Start the broker unless it already runs; return its bootstrap address ``host:port``.

        Idempotent: a broker of this data directory that is running is only waited for
        until it answers. ``timeout`` bounds the wait for the broker to answer a metadata
        request after launch (the one-time jar download has its own, longer bound).
        """
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        lock_timeout = timeout + DOWNLOAD_TIMEOUT + FORMAT_TIMEOUT
        with file_lock(
            root / _LOCK_FILE, lock_timeout, f"starting or stopping the broker in {root}"
        ):
            record = self._running_record()
            if record is not None:
                if (record.host, record.port) != (self.advertised_host, self.port):
                    raise BrokerError(
                        f"the broker of {root} already runs on {record.bootstrap} "
                        f"(pid {record.pid}); stop it with `leadq broker stop --data-dir {root}` "
                        f"before starting it on {self.bootstrap}."
                    )
                if self.security is not None and record.secure_port != self.security.port:
                    raise BrokerError(
                        f"the broker of {root} already runs (pid {record.pid}) without a "
                        f"SASL_SSL listener on port {self.security.port}; stop it with "
                        f"`leadq broker stop --data-dir {root}` and start it again."
                    )
                if self._wait_until_ready(record.pid, timeout):
                    return record.bootstrap
                if self._is_our_broker(record.pid):
                    raise BrokerError(
                        f"the broker of {root} (pid {record.pid}) runs but did not answer on "
                        f"{record.bootstrap} within {timeout:g} s; see {self.server_log}, or "
                        f"restart it with `leadq broker stop --data-dir {root}` and start."
                    )
                _log.info("Broker pid %d exited before answering; starting it again.", record.pid)
            self.pid_file.unlink(missing_ok=True)
            return self._launch(timeout)

    def stop(self, timeout: float = 15) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout`` s); return whether it ran."""
        return self._terminate_running("Stopping", timeout + 60, timeout, signal.SIGTERM)

    def kill(self) -> bool:
        """Kill the broker with SIGKILL (a crash, no clean shutdown); return whether it ran."""
        return self._terminate_running("Killing", 60, 0, signal.SIGKILL)

    def format_storage(self, java: Path, libs: Path) -> None:
        """Format the KRaft storage unless it is: StorageTool run by ``java`` from ``libs``.

        With ``cluster_id`` (else a fresh one) and, with security, the SCRAM user.
        """
        if is_formatted(self.storage_dir):
            return
        tool = ["kafka.tools.StorageTool", "format", "-t", self.cluster_id or kafka_uuid()]
        command = self._java_command(java, libs, *tool, "-c", str(self.server_properties_path))
        secure = self.secure_files
        if secure is not None:
            command += ["--add-scram", secure.scram_credential()]
        format_storage(command, self.storage_dir)
        if secure is not None:
            secure.record_scram_user()

    # ------------------------------------------------------------------ internals

    def _terminate_running(self, doing: str, lock_timeout: float, timeout: float, sig: int) -> bool:
        """Send the running broker ``sig`` (SIGKILL after ``timeout`` s); whether it ran."""
        root = self.root
        if not root.is_dir():
            return False
        with file_lock(
            root / _LOCK_FILE, lock_timeout, f"starting or stopping the broker in {root}"
        ):
            record = self._running_record()
            if record is None:
                self.pid_file.unlink(missing_ok=True)
                return False
            _log.info("%s the Kafka broker (pid %d)...", doing, record.pid)
            terminate(record.pid, timeout, self.pid_file, sig)
            self.pid_file.unlink(missing_ok=True)
            return True

    def _is_our_broker(self, pid: int) -> bool:
        """Whether ``pid`` is a live ``kafka.Kafka`` JVM started with our server.properties."""
        return is_broker_process(pid, self.server_properties_path)

    def _running_record(self) -> PidRecord | None:
        record = PidRecord.read(self.pid_file)
        if record is None or not self._is_our_broker(record.pid):
            return None
        return record

    def _java_command(self, java: Path, libs: Path, *args: str) -> list[str]:
        log4j = f"-Dlog4j2.configurationFile={self.log4j_config_path}"
        error_file = f"-XX:ErrorFile={self.log_dir / 'hs_err_pid%p.log'}"
        return java_command(java, libs, [*self.jvm_options, log4j, error_file], *args)

    def _launch(self, timeout: float) -> str:
        # Cheapest check first.
        controller_port = choose_controller_port(self.host, self.port, self.controller_port)
        secure = self.secure_files
        if secure is not None:
            secure.check_port(self.host, controller_port)
            secure.check_scram_user(self.storage_dir)
        java = check_java()
        libs = self.ensure_jars()
        if secure is not None:
            secure.ensure_tls_material(java, (self.host, self.advertised_host))
            secure.write_client_env(host_port(self.advertised_host, secure.security.port))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.server_properties_path.write_text(
            self.server_properties(controller_port), encoding="utf-8"
        )
        if secure is not None:  # it holds the local keystore's password
            self.server_properties_path.chmod(0o600)
        self.log4j_config_path.write_text(self.log4j_config(), encoding="utf-8")
        self.format_storage(java, libs)
        log_offset = self.server_log.stat().st_size if self.server_log.exists() else 0
        command = self._java_command(java, libs, "kafka.Kafka", str(self.server_properties_path))
        command.insert(1, f"-Xmx{self.heap}")
        _log.info(
            "Starting Apache Kafka %s on %s (logs in %s)...",
            KAFKA_VERSION,
            self.bootstrap,
            self.log_dir,
        )
        try:
            pid = spawn(command, self.stdout_log)
        except OSError as exc:
            raise BrokerError(
                f"could not launch {java} ({exc}); check the Java installation or set "
                "JAVA_HOME to a working JDK."
            ) from exc
        secure_port = secure.security.port if secure is not None else None
        record = PidRecord(pid, self.advertised_host, self.port, controller_port, secure_port)
        record.write(self.pid_file)
        if self._wait_until_ready(pid, timeout):
            if self.secure_bootstrap is not None:
                _log.info(
                    "SASL_SSL (%s) listener on %s; client settings, password included, in %s",
                    SCRAM_MECHANISM,
                    self.secure_bootstrap,
                    self.client_env_file,
                )
            return record.bootstrap
        code = exit_code(pid)
        if code is None:  # alive but silent for the whole timeout: do not leave it half-up
            terminate(pid, 15, self.pid_file)
            self.pid_file.unlink(missing_ok=True)
            raise BrokerError(
                f"the Kafka broker did not answer on {record.bootstrap} within {timeout:g} s; "
                f"see {self.server_log}, or retry with a longer --timeout."
            )
        self.pid_file.unlink(missing_ok=True)
        raise startup_failure(code, self.server_log, self.stdout_log, log_offset)

    def _wait_until_ready(self, pid: int, timeout: float) -> bool:
        """True once the broker answers; False if ``pid`` died or ``timeout`` passed first."""
        secure_port = self.security.port if self.security is not None else None
        alive = functools.partial(self._is_our_broker, pid)
        return wait_until_ready(self.advertised_host, self.port, secure_port, alive, timeout)
