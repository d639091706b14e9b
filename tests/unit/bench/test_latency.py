"""Whether the latency run's worker kept up with the offered load."""

from __future__ import annotations

from bench.latency import LatencyResult
from streams.worker.ingest import COMMIT_INTERVAL_S


def result(done_s: float) -> LatencyResult:
    return LatencyResult(offered_rate=2000.0, events=40_000, send_s=20.0, done_s=done_s)


def test_a_worker_done_by_its_next_commit_kept_up() -> None:
    # The last offsets are committed up to a commit interval after the last event.
    kept = result(done_s=20.0 + COMMIT_INTERVAL_S)
    assert kept.processed_rate == 2000.0
    assert kept.kept_up


def test_a_worker_seconds_behind_at_the_end_did_not_keep_up() -> None:
    behind = result(done_s=20.0 + COMMIT_INTERVAL_S + 4.0)
    assert behind.processed_rate == 40_000 / 24.0
    assert not behind.kept_up
