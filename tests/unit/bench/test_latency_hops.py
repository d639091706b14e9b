"""The latency run's hops, from the send, the re-keyed record and the stage change's record."""

from __future__ import annotations

import pytest

from bench.latency_hops import Arrival, hops_ms


def test_each_stage_change_is_split_into_its_three_hops() -> None:
    sent_at = {"e1": 100.000, "e2": 100.500}  # s since the epoch
    rekeyed_ms = {"e1": 100_012, "e2": 100_503}
    arrivals = [Arrival("e1", 100_020, 100.0235), Arrival("e2", 100_530, 100.532)]
    found = hops_ms(sent_at, rekeyed_ms, arrivals)
    assert found == [
        pytest.approx((12.0, 8.0, 3.5)),
        pytest.approx((3.0, 27.0, 2.0)),
    ]
    for (ingest, rules, to_reader), arrival, sent in zip(
        found, arrivals, sent_at.values(), strict=True
    ):  # the hops add up to the whole latency
        assert ingest + rules + to_reader == pytest.approx(arrival.read_at * 1000 - sent * 1000)


def test_stage_changes_of_unsent_or_unseen_triggers_are_left_out() -> None:
    arrivals = [
        Arrival("warm-up", 10, 0.02),  # sent before the timed load
        Arrival("e1", 10, 0.02),  # its re-keyed record was not read
        Arrival("e2", 30, 0.035),
    ]
    found = hops_ms({"e1": 0.0, "e2": 0.0}, {"e2": 20, "warm-up": 5}, arrivals)
    assert found == [pytest.approx((20.0, 10.0, 5.0))]
