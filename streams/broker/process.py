"""Broker JVM processes: spawning them, pid files, telling whether one runs, stopping it."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streams.broker.errors import BrokerError
from streams.broker.net import host_port
from streams.broker.waiting import wait_for

__all__ = [
    "BrokerStatus",
    "PidRecord",
    "cmdline",
    "exit_code",
    "is_broker_process",
    "pid_alive",
    "spawn",
    "terminate",
]

_log = logging.getLogger(__name__)

_KILL_TIMEOUT = 10.0  # seconds to wait for a SIGKILLed broker to disappear

# Brokers this process spawned -> exit code once reaped (None while running). A dead
# child stays a zombie, which `kill(pid, 0)` still reports as alive, until it is reaped.
# (posix_spawn rather than Popen: a Popen object of a broker meant to outlive this
# process would warn "subprocess is still running" when garbage-collected.)
_SPAWNED: dict[int, int | None] = {}


@dataclass(frozen=True)
class BrokerStatus:
    """Whether the broker of a data directory runs, its pid and its bootstrap address."""

    running: bool
    pid: int | None
    bootstrap: str


@dataclass(frozen=True)
class PidRecord:
    """What a broker's pid file holds: its pid and the addresses it was started on."""

    pid: int
    host: str
    port: int
    controller_port: int
    secure_port: int | None = None

    @property
    def bootstrap(self) -> str:
        return host_port(self.host, self.port)

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        """The record in the pid file ``path``, or None when it is missing or garbled."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            return None
        values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        try:
            secure = values.get("secure_port")
            return cls(
                pid=int(values["pid"]),
                host=values["host"],
                port=int(values["port"]),
                controller_port=int(values["controller_port"]),
                secure_port=int(secure) if secure else None,
            )
        except (KeyError, ValueError):
            return None

    def write(self, path: Path) -> None:
        """Write this record to the pid file ``path`` (replaced at once, never half-written)."""
        tmp = path.with_name(path.name + ".tmp")
        secure = f"secure_port={self.secure_port}\n" if self.secure_port else ""
        tmp.write_text(
            f"pid={self.pid}\nhost={self.host}\nport={self.port}\n"
            f"controller_port={self.controller_port}\n{secure}",
            encoding="utf-8",
        )
        tmp.replace(path)


def spawn(command: list[str], output: Path) -> int:
    """Start ``command`` in a new session, stdin from /dev/null, stdout+stderr to ``output``."""
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(output), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(command[0], command, os.environ, file_actions=file_actions, setsid=True)
    _SPAWNED[pid] = None
    return pid


def exit_code(pid: int) -> int | None:
    """The exit code of a broker this process spawned, once it has exited (reaps it)."""
    if pid not in _SPAWNED or _SPAWNED[pid] is not None:
        return _SPAWNED.get(pid)
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # reaped elsewhere
        _SPAWNED[pid] = -1
        return -1
    if waited == 0:
        return None
    code = os.waitstatus_to_exitcode(status)
    _SPAWNED[pid] = code
    return code


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` names a live (not zombie) process."""
    if exit_code(pid) is not None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if not Path("/proc/self/stat").exists():
        return True
    try:
        state = stat.read_text(encoding="ascii", errors="replace").rpartition(")")[2].split()
    except OSError:
        return False
    return bool(state) and state[0] not in ("Z", "X")


def cmdline(pid: int) -> str:
    """The command line of ``pid`` (arguments joined by spaces), or "" when unknown."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self/cmdline").exists():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return ""
    try:  # no procfs (macOS): ask ps
        done = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def is_broker_process(pid: int, server_properties: Path) -> bool:
    """Whether ``pid`` is a live ``kafka.Kafka`` JVM started with ``server_properties``."""
    if pid <= 0 or not pid_alive(pid):
        return False
    command = cmdline(pid)
    if not command and pid in _SPAWNED:
        # A child of ours (not reaped, so its pid is not reused) that is still
        # exec'ing: its command line reads empty for a moment.
        return True
    return "kafka.Kafka" in command and str(server_properties) in command


def terminate(pid: int, timeout: float, pid_file: Path, sig: int = signal.SIGTERM) -> None:
    """Stop the broker ``pid``: ``sig``, then SIGKILL after ``timeout`` s (at once for SIGKILL).

    ``pid_file`` is the broker's pid file, named in the error raised should it outlive SIGKILL.
    """
    if sig != signal.SIGKILL:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if wait_for(lambda: not pid_alive(pid), timeout):
            return
        _log.warning(
            "The Kafka broker (pid %d) did not exit within %g s of SIGTERM; killing it.",
            pid,
            timeout,
        )
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:  # our broker leads its own session: kill the group
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    if not wait_for(lambda: not pid_alive(pid), _KILL_TIMEOUT):
        raise BrokerError(
            f"the Kafka broker (pid {pid}) is still alive after SIGKILL; check it with "
            f"`ps -p {pid}` and remove {pid_file} once it is gone."
        )
