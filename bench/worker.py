"""Launch `leadq run` worker processes for the benchmark (own app id and data dir each)."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import say
from streams.settings import Settings
from streams.worker.launch import WorkerProcess, start_worker


@dataclass
class Launched:
    """A started worker, when it was spawned and when it printed its ready line."""

    worker: WorkerProcess
    spawned_at: float
    ready_at: float

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.worker.proc.pid

    @property
    def startup_s(self) -> float:
        """Seconds from spawning the process to its ready line."""
        return self.ready_at - self.spawned_at


async def launch(
    settings: Settings, ready_timeout: float = 120.0, loglevel: str = "warn"
) -> Launched:
    """Start `leadq run` with these settings and wait for its ready line.

    The ready line is printed on faust's rebalance-complete signal, which comes after the
    table's recovery from its changelog has finished.
    """
    spawned_at = time.monotonic()
    # worker_env passes every setting, the app id included (own group and changelog).
    worker = await start_worker(settings, wait=False, loglevel=loglevel)
    try:
        await worker.wait_ready(ready_timeout)
    except BaseException:
        await worker.stop()
        raise
    return Launched(worker, spawned_at, time.monotonic())


async def start_py_spy(pid: int, output: Path) -> asyncio.subprocess.Process:
    """Sample a worker's CPU use with py-spy (installed next to this Python) until it exits."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        found = shutil.which("py-spy")
        if found is None:
            raise FileNotFoundError("py-spy is not installed (pip install py-spy)")
        py_spy = Path(found)
    output.parent.mkdir(parents=True, exist_ok=True)
    fmt = "flamegraph" if output.suffix == ".svg" else "raw"
    return await asyncio.create_subprocess_exec(
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--format",
        fmt,
        "--output",
        str(output),
        "--rate",
        "100",
        "--nonblocking",
        # Only samples that hold the GIL: where the CPU goes. Without it, a thread waiting
        # to re-take the GIL after a syscall (faust's consumer runs in a second thread)
        # shows up as time spent in that syscall, e.g. socket writes.
        "--gil",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def finish_py_spy(spy: asyncio.subprocess.Process, output: Path | None) -> None:
    """Wait for py-spy to write its output after the worker has exited."""
    try:
        await asyncio.wait_for(spy.wait(), 60)
    except TimeoutError:
        spy.terminate()
        await spy.wait()
    say(f"py-spy profile of the worker: {output}")
