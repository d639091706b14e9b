"""Reading a broker's logs for the reason it failed to start."""

from __future__ import annotations

import os
import re
from pathlib import Path

from streams.broker.errors import BrokerError, shorten

__all__ = ["startup_failure"]

_LOG_LEVEL = re.compile(r"^\[[^\]]*\] (ERROR|FATAL) ")
_EXCEPTION_LINE = re.compile(
    r"^(?:Caused by: )?(?:[a-z_$][\w$]*\.)+([A-Z][\w$]*(?:Exception|Error))(?::\s*(.*))?$"
)


def _failure_reason(lines: list[str]) -> str | None:
    """What the first ERROR record of a Kafka log says went wrong.

    That is the first exception of its stack trace (``KafkaException: Socket server failed
    to bind to ...``) or, without a stack trace, the record's message.
    """
    for index, line in enumerate(lines):
        if not _LOG_LEVEL.match(line):
            continue
        for follower in lines[index + 1 :]:
            if follower.startswith("["):  # the next log record: no stack trace here
                break
            match = _EXCEPTION_LINE.match(follower)
            if match:
                name, message = match.group(1), match.group(2)
                return f"{name}: {message}" if message else name
        return _LOG_LEVEL.sub("", line).rsplit(" (", 1)[0]
    return None


def _read_tail(path: Path, offset: int, limit: int = 200_000) -> list[str]:
    """Non-empty lines written to ``path`` after ``offset`` (at most its last ``limit`` bytes)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(offset, size - limit) if size >= offset else max(0, size - limit))
            data = handle.read()
    except OSError:
        return []
    return [line.rstrip() for line in data.decode(errors="replace").splitlines() if line.strip()]


def startup_failure(code: int, server_log: Path, stdout_log: Path, log_offset: int) -> BrokerError:
    """The error of a broker that exited with ``code`` while starting, its reason from the logs.

    ``server_log`` is read from ``log_offset`` (where this start began writing),
    ``stdout_log`` (the JVM's own output) as a whole.
    """
    server_lines = _read_tail(server_log, log_offset)
    stdout_lines = _read_tail(stdout_log, 0)
    reason = _failure_reason(server_lines)
    log = server_log
    if reason is None and stdout_lines:  # the JVM itself failed (bad -Xmx, ...)
        reason, log = stdout_lines[0], stdout_log
    details = "\n".join([*server_lines[-20:], *stdout_lines[-20:]])
    return BrokerError(
        f"the Kafka broker exited with code {code} while starting "
        f"({shorten(reason or 'no error was logged', 200)}); see {log} for details.",
        details=details,
    )
