"""The machine a benchmark run is measured on: cores, CPU model, memory, OS, Python, Kafka."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from streams.broker.versions import KAFKA_VERSION


def cpu_model(cpuinfo: str) -> str:
    """The processor's model name from the text of /proc/cpuinfo."""
    for line in cpuinfo.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() in ("model name", "Model", "Hardware", "cpu model"):
            return value.strip()
    return platform.processor() or "unknown"


def machine_info(broker: str) -> dict[str, Any]:
    """Cores, CPU model, memory, OS, Python and Kafka version of this run."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        cpuinfo = ""
    memory_gb: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(cpuinfo),
        "memory_gb": memory_gb,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION
        if broker == "local"
        else f"unknown (external; leadq pins {KAFKA_VERSION})",
        "broker": broker,
    }
