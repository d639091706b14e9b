"""Fixtures of the faust_ext tests: a built worker's real faust consumer, its seeks."""

from __future__ import annotations

from typing import Any

import pytest
from faust.types import TP

from streams.settings import Settings
from streams.worker.app import build
from tests.unit.worker.faust_ext.consumer_states import EVENTS


@pytest.fixture
def consumer(tmp_path: Any) -> Any:
    return build(Settings(topic_prefix="fixes.", data_dir=tmp_path, store="memory://")).app.consumer


@pytest.fixture
def log_start() -> dict[TP, int]:
    """Where each partition's log starts (what faust's earliest_offsets answers)."""
    return {EVENTS: 0}


@pytest.fixture
def seeks(
    consumer: Any, monkeypatch: pytest.MonkeyPatch, log_start: dict[TP, int]
) -> list[tuple[TP, int]]:
    calls: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        calls.append((tp, offset))

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        return {tp: log_start[tp] for tp in tps}

    monkeypatch.setattr(consumer, "seek", seek)
    monkeypatch.setattr(consumer, "earliest_offsets", earliest_offsets)
    return calls
