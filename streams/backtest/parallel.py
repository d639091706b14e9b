"""Lead journeys of grouped histories under rulesets, in worker processes when it pays."""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from streams.core.events import LeadEvent
from streams.core.journeys import LeadJourney, journey_of
from streams.core.qualify import Qualifier

# Below this many events one process is faster than starting workers.
PARALLEL_MIN_EVENTS: Final = 50_000
SHARDS_PER_WORKER: Final = 16

# What forked workers read (inherited memory: nothing is pickled on the way in).
_JOB: tuple[Sequence[Qualifier], dict[str, list[LeadEvent]], list[list[str]], int | None] | None = (
    None
)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause cyclic GC: replays make millions of long-lived objects and no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def default_workers(events: int) -> int:
    """One process for small inputs, else one per available core."""
    if events < PARALLEL_MIN_EVENTS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _shard(index: int) -> tuple[int, list[LeadJourney]]:
    assert _JOB is not None
    qualifiers, by_lead, shards, until_ms = _JOB
    which, part = divmod(index, len(shards))
    qualifier = qualifiers[which]
    with no_gc():
        return which, [journey_of(qualifier, lid, by_lead[lid], until_ms) for lid in shards[part]]


def journeys_in_parallel(
    qualifiers: Sequence[Qualifier],
    by_lead: dict[str, list[LeadEvent]],
    workers: int = 1,
    on_leads: Callable[[int], None] | None = None,
    until_ms: int | None = None,
) -> list[dict[str, LeadJourney]]:
    """Each ruleset's outcome per lead (sorted by lead id); the same whatever `workers` is.
    until_ms: the end of the history, up to which time-driven changes apply."""
    global _JOB
    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # workers read the groups from memory inherited at fork
    lead_ids = sorted(by_lead)
    results: list[dict[str, LeadJourney]] = [{} for _ in qualifiers]
    count = max(1, workers * SHARDS_PER_WORKER)
    shards = [lead_ids[i::count] for i in range(count)]
    tasks = range(len(qualifiers) * len(shards))
    _JOB = (qualifiers, by_lead, shards, until_ms)
    try:
        if workers <= 1:
            done: Iterator[tuple[int, list[LeadJourney]]] = map(_shard, tasks)
            for which, journeys in done:
                _collect(results[which], journeys, on_leads)
        else:
            gc.freeze()  # keep the children's GC from touching (and so copying) these objects
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for which, journeys in pool.imap_unordered(_shard, tasks):
                    _collect(results[which], journeys, on_leads)
    finally:
        gc.unfreeze()
        _JOB = None
    return [dict(sorted(r.items())) for r in results]


def _collect(
    into: dict[str, LeadJourney],
    journeys: list[LeadJourney],
    on_leads: Callable[[int], None] | None,
) -> None:
    for journey in journeys:
        into[journey.lead_id] = journey
    if on_leads is not None:
        on_leads(len(journeys))
