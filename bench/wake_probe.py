"""How late a sleeping process wakes up while a measurement runs: the machine's own delays."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path
from typing import Final

NAP_S: Final = 0.002  # a probe that wakes up 500 times a second costs about 1 % of a core


def nap_until(done: threading.Event) -> list[float]:
    """Sleep NAP_S again and again (at least once) until `done` is set; each nap's
    lateness in ms."""
    late_ms = []
    while True:
        began = time.perf_counter()
        time.sleep(NAP_S)
        late_ms.append((time.perf_counter() - began - NAP_S) * 1000)
        if done.is_set():
            return late_ms


def nap_until_stdin_closes() -> list[float]:
    """`nap_until` the process's stdin is closed."""
    closed = threading.Event()

    def wait_for_close() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=wait_for_close, daemon=True).start()
    return nap_until(closed)


class WakeProbe:
    """This module run as a process of its own; `stop()` returns each nap's lateness (ms).

    A process that is due to run but waits for a core (or for the hypervisor) delays a
    stage change just as it delays the probe: what the probe saw tells a slow latency
    run that the machine was busy from one that the worker was slow.
    """

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start napping."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )

    async def stop(self) -> list[float]:
        """Stop napping; the lateness of every nap since start (empty if it failed)."""
        if self.process is None:
            return []
        out, _ = await self.process.communicate(b"")
        self.process = None
        try:
            return [float(v) for v in json.loads(out)]
        except ValueError:
            return []


if __name__ == "__main__":
    print(json.dumps([round(v, 3) for v in nap_until_stdin_closes()]))
