"""Helpers of the local broker's tests: fake executables, messages, properties."""

from __future__ import annotations

import stat
from pathlib import Path


def script(path: Path, body: str) -> Path:
    """An executable shell script at ``path`` running ``body``."""
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def assert_one_sentence(message: str) -> None:
    """``message`` is one sentence on one line, without a traceback."""
    assert message
    assert "\n" not in message
    assert message.endswith(".")
    assert "Traceback" not in message


def parse_properties(text: str) -> dict[str, str]:
    """The entries of a Java properties text (``key=value`` lines, comments skipped)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}
