"""The wake-up probe the latency run uses to tell machine delays from worker delays."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bench.wake_probe import NAP_S, WakeProbe, nap_until

PROBE_TIMEOUT_S = 30.0


def test_naps_until_done_and_reports_each_lateness() -> None:
    done = threading.Event()
    timer = threading.Timer(20 * NAP_S, done.set)
    timer.start()
    late = nap_until(done)
    timer.join()
    assert late
    assert all(v > -1.0 for v in late)  # a nap never ends (noticeably) early


def test_naps_once_when_already_done() -> None:
    done = threading.Event()
    done.set()
    assert len(nap_until(done)) == 1


@pytest.mark.asyncio
async def test_probe_process_reports_its_naps_when_stopped() -> None:
    probe = WakeProbe()
    await probe.start()
    late = await asyncio.wait_for(probe.stop(), PROBE_TIMEOUT_S)
    assert late
    assert all(isinstance(v, float) for v in late)
    assert await probe.stop() == []  # stopped: nothing more to report
