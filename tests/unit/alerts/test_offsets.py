"""The commit watermark: below the lowest unfinished record, whatever order they finish in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.alerts.offsets import Watermark


def test_commits_stop_at_the_lowest_unfinished_record() -> None:
    mark = Watermark()
    assert mark.committable() is None
    for offset in (10, 11, 12, 13):
        mark.add(offset)
    assert mark.committable() == 10
    mark.finish(11)
    mark.finish(13)
    assert (mark.committable(), mark.unfinished) == (10, 2)
    mark.finish(10)
    assert (mark.committable(), mark.unfinished) == (12, 1)
    mark.finish(12)
    assert (mark.committable(), mark.unfinished) == (14, 0)
    mark.add(20)  # offsets may have gaps (compaction, transactions)
    assert mark.committable() == 20


def test_offsets_only_increase() -> None:
    mark = Watermark()
    mark.add(5)
    with pytest.raises(ValueError, match="offset 4 was read after 5"):
        mark.add(4)


@given(st.permutations(list(range(30))), st.integers(min_value=0, max_value=30))
def test_the_watermark_is_the_lowest_unfinished_offset(order: list[int], done: int) -> None:
    mark = Watermark()
    for offset in range(30):
        mark.add(offset * 2)
    finished = [offset * 2 for offset in order[:done]]
    for offset in finished:
        mark.finish(offset)
    unfinished = [o for o in range(0, 60, 2) if o not in finished]
    assert mark.committable() == (unfinished[0] if unfinished else 59)
    assert mark.unfinished == len(unfinished)
