"""The ``leadq broker`` commands against a real Kafka broker on a free port and a tmp dir."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

_LEADQ = Path(sys.executable).with_name("leadq")
_STATUS = re.compile(r"^running (\S+) \(pid (\d+)\)$")


def _free_port() -> int:
    """A free port whose successor (the default controller port) is free as well, if possible."""
    for _ in range(20):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port < 65535:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    return port  # the launcher falls back to another controller port anyway


@dataclass
class Cli:
    data_dir: Path
    port: int

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        command = [str(_LEADQ)] if _LEADQ.exists() else [sys.executable, "-m", "streams.cli"]
        return subprocess.run(
            [*command, "broker", *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> subprocess.CompletedProcess[str]:
        return self.run("start", "--port", str(self.port), "--timeout", "90")

    def status_pid(self) -> int | None:
        result = self.run("status")
        match = _STATUS.match(result.stdout.strip())
        if result.returncode == 0 and match:
            return int(match.group(2))
        assert (result.returncode, result.stdout) == (1, "not running\n"), result
        return None


def _pid_from_file(data_dir: Path) -> int | None:
    try:
        text = (data_dir / "broker.pid").read_text(encoding="utf-8")
    except OSError:
        return None
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return int(values["pid"]) if "pid" in values else None


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """A CLI bound to a fresh data dir and free port; the broker is always stopped after."""
    session = Cli(data_dir=tmp_path / "broker", port=_free_port())
    try:
        yield session
    finally:
        session.run("stop", "--timeout", "10")
        pid = _pid_from_file(session.data_dir)
        if pid is not None:  # stop failed: make sure no JVM outlives the test
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def test_start_status_kill_recover_stop(cli: Cli) -> None:
    address = f"127.0.0.1:{cli.port}"

    first = cli.start()
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == address
    assert "Traceback" not in first.stderr

    began = time.monotonic()
    again = cli.start()
    elapsed = time.monotonic() - began
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == address
    assert elapsed < 10, f"idempotent start took {elapsed:.1f} s"
    assert "Starting" not in again.stderr

    pid = cli.status_pid()
    assert pid is not None
    assert (cli.run("status").stdout.strip()) == f"running {address} (pid {pid})"

    os.kill(pid, signal.SIGKILL)
    assert _wait_until(lambda: cli.status_pid() is None, 30), "status still says running"

    recovered = cli.start()
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.splitlines()[-1] == address
    new_pid = cli.status_pid()
    assert new_pid is not None
    assert new_pid != pid

    stopped = cli.run("stop")
    assert (stopped.returncode, stopped.stdout) == (0, "stopped\n"), stopped.stderr
    assert cli.status_pid() is None
    assert not (cli.data_dir / "broker.pid").exists()
    log = (cli.data_dir / "logs" / "server.log").read_text(encoding="utf-8")
    assert "shut down completed" in log  # SIGTERM gave a clean shutdown

    again_stopped = cli.run("stop")
    assert (again_stopped.returncode, again_stopped.stdout) == (0, "not running\n")


def test_second_data_dir_on_a_busy_port_is_refused(cli: Cli, tmp_path: Path) -> None:
    assert cli.start().returncode == 0
    other = Cli(data_dir=tmp_path / "other", port=cli.port)
    result = other.start()
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: port {cli.port} is in use by another process; stop it or choose another "
        "port with --port."
    ]


def test_broker_that_cannot_start_reports_its_log(cli: Cli) -> None:
    cli.data_dir.mkdir(parents=True)
    # A heap size the JVM rejects: the process exits at once.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from streams.broker.errors import BrokerError\n"
            "from streams.broker.node import LocalBroker\n"
            f"broker = LocalBroker(Path({str(cli.data_dir)!r}), port={cli.port}, heap='bogus')\n"
            "try:\n    broker.start(timeout=30)\n"
            "except BrokerError as exc:\n    print(exc)\n    sys.exit(2)\n",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result
    message = result.stdout.strip()
    assert "exited with code 1 while starting" in message
    assert "Invalid maximum heap size" in message
    assert str(cli.data_dir / "logs" / "stdout.log") in message
    assert not (cli.data_dir / "broker.pid").exists()
