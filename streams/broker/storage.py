"""The KRaft storage of a node: cluster ids, and formatting it with Kafka's StorageTool."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from streams.broker.errors import BrokerError, shorten

__all__ = ["FORMAT_TIMEOUT", "format_storage", "is_formatted", "kafka_uuid"]

FORMAT_TIMEOUT = 120.0
"""Seconds for ``kafka.tools.StorageTool format``."""


def kafka_uuid() -> str:
    """A random Kafka UUID in its URL-safe base64 form (never starting with '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):  # Kafka's own generator avoids these: they look like flags
            return text


def is_formatted(storage_dir: Path) -> bool:
    """Whether ``storage_dir`` holds a formatted KRaft storage."""
    return (storage_dir / "meta.properties").is_file()


def format_storage(command: list[str], storage_dir: Path) -> None:
    """Run the StorageTool ``format`` ``command`` into ``storage_dir``, made afresh.

    A ``storage_dir`` that exists but is not formatted is what an interrupted format
    left: nothing usable, so it is deleted first.
    """
    if storage_dir.exists():
        shutil.rmtree(storage_dir)
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=FORMAT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BrokerError(
            f"formatting the Kafka storage in {storage_dir} failed ({exc}); check the Java "
            "installation and try again."
        ) from exc
    if done.returncode != 0:
        lines = [line for line in (done.stderr + "\n" + done.stdout).splitlines() if line]
        reason = shorten(lines[-1]) if lines else f"exit code {done.returncode}"
        raise BrokerError(
            f"formatting the Kafka storage in {storage_dir} failed ({reason}); delete "
            f"{storage_dir} and try again."
        )
