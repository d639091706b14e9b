"""Consumer lag of the partitions faust's consumer reads: high-water mark less committed."""

from __future__ import annotations

from collections.abc import Mapping, Set

import faust


async def committed_lag(app: faust.App, topics: Set[str]) -> Mapping[tuple[str, int], int]:
    """(topic, partition) -> messages past the committed offset, for each assigned
    partition of these topics whose high-water mark faust knows (0 once everything is
    committed). A table's changelog, which faust reads only to recover, is not one."""
    consumer = app.consumer
    committed = consumer._committed_offset
    lag: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        if tp.topic not in topics:
            continue
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        done = committed.get(tp)
        lag[(tp.topic, tp.partition)] = max(0, highwater - (done or 0))
    return lag
