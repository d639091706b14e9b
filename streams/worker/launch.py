"""Start `leadq run` worker processes and know when they are ready or have stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from streams.settings import Settings
from streams.worker.runner import READY_LINE

WORKER_READY_TIMEOUT_S = 90.0
WORKER_STOP_TIMEOUT_S = 20.0


def worker_env(settings: Settings, data_dir: Path | None = None) -> dict[str, str]:
    """The environment that gives a worker process exactly these settings."""
    env = dict(os.environ)
    for name, field_info in Settings.model_fields.items():
        value = getattr(settings, name)
        alias = str(field_info.validation_alias)
        if value is None:
            env.pop(alias, None)
        elif isinstance(value, SecretStr):
            env[alias] = value.get_secret_value()
        else:
            env[alias] = str(value)
    if data_dir is not None:
        env["LEADQ_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class WorkerProcess:
    """A `leadq run` process and the lines it printed."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None
    ready_line: str = READY_LINE  # what the process prints once ready

    async def read_output(self) -> None:
        """Collect the process's output lines; set `ready` once it prints its ready line."""
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            if self.ready_line in line:
                self.ready.set()

    async def wait_ready(self, timeout: float = WORKER_READY_TIMEOUT_S) -> None:
        waiter = asyncio.ensure_future(self.ready.wait())
        exited = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait(
            {waiter, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        exited.cancel()
        if not self.ready.is_set():
            tail = "\n".join(self.lines[-30:])
            state = "exited" if exited in done else f"not ready after {timeout}s"
            raise TimeoutError(f"worker {state}; last output:\n{tail}")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), WORKER_STOP_TIMEOUT_S)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.reader, 5)
        return self.proc.returncode or 0


async def start_worker(
    settings: Settings,
    *,
    wait: bool = True,
    loglevel: str = "warn",
    data_dir: Path | None = None,
) -> WorkerProcess:
    """Start `leadq run` (by default wait until it has its partitions); each worker on one
    machine needs its own data_dir (its state store)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        "run",
        "--loglevel",
        loglevel,
        env=worker_env(settings, data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    worker = WorkerProcess(proc)
    worker.reader = asyncio.ensure_future(worker.read_output())
    if wait:
        await worker.wait_ready()
    return worker


def output_tail(worker: WorkerProcess, lines: int = 30) -> str:
    """The last lines a worker printed (for error messages)."""
    state = "running" if worker.proc.returncode is None else f"exited {worker.proc.returncode}"
    return f"worker {worker.proc.pid} ({state}), last output:\n" + "\n".join(worker.lines[-lines:])
