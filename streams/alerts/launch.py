"""Start `leadq alerts --config FILE` processes (for tests, the demo and fault scenarios)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path

from streams.alerts.run import READY_LINE
from streams.settings import Settings
from streams.worker.launch import WORKER_READY_TIMEOUT_S, WorkerProcess, worker_env


async def start_alerts(
    settings: Settings,
    config: Path,
    env: Mapping[str, str] | None = None,
    *,
    wait: bool = True,
    loglevel: str = "warning",
    timeout: float = WORKER_READY_TIMEOUT_S,
) -> WorkerProcess:
    """Start an alert service process with these settings plus `env` (the destinations'
    URLs and secrets); by default wait until it has its partitions (`leadq alerts ready`).
    Stop it with `.stop()` (SIGTERM: it commits what is finished) or `.stop(signal.SIGKILL)`.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        "alerts",
        "--config",
        str(config),
        "--loglevel",
        loglevel,
        env={**worker_env(settings), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    process = WorkerProcess(proc, ready_line=READY_LINE)
    process.reader = asyncio.ensure_future(process.read_output())
    if wait:
        await process.wait_ready(timeout)
    return process
