"""The bench's heap handling around its timed parts."""

from __future__ import annotations

import gc
import os
import time

import pytest

from bench.common import cpu_s, frozen_heap


def test_a_frozen_heap_is_thawed_afterwards_and_the_collector_keeps_running() -> None:
    assert gc.isenabled()
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_the_latency_runs_collector_is_off_while_timing_and_on_again_after() -> None:
    assert gc.isenabled()
    seen: list[tuple[int, bool]] = []

    def timed_part_that_fails() -> None:
        with frozen_heap(collector_off=True):
            seen.append((gc.get_freeze_count(), gc.isenabled()))
            raise RuntimeError("a failed run")

    with pytest.raises(RuntimeError):
        timed_part_that_fails()
    assert seen[0][0] > 0
    assert seen[0][1] is False
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_cpu_seconds_of_a_live_process_grow_and_a_gone_one_has_none() -> None:
    pid = os.getpid()
    before = cpu_s(pid)
    assert before is not None
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = cpu_s(pid)
    assert after is not None
    assert after > before
    assert cpu_s(2**22 + 1) is None  # above Linux's largest pid
