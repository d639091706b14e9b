"""The worker's cyclic garbage collection: on a timer, young objects often and all seldom."""

from __future__ import annotations

import gc
import time
from typing import Any, Final

from mode import Service

# The young generations are collected this often; what survives moves to the oldest.
YOUNG_INTERVAL_S: Final = 0.1
# Every object, the oldest generation with it, is collected this seldom.
FULL_INTERVAL_S: Final = 600.0


class Collector(Service):
    """Turns CPython's automatic cyclic collector off while it runs, and collects instead:
    the young generations every `young_s`, every generation every `full_s`.

    The automatic collector runs by allocation counts, with a full collection whenever
    the objects moved to the oldest generation since the last one reach a quarter of it.
    The worker keeps up to 20,000 decoded lead states (about five objects each) and
    replaces them as events come: at 5,000 events/s a full collection came every 12-22 s
    and stopped the worker for 15-110 ms, more as the states held grew, and a young one
    for up to 18 ms (docs/performance.md). Collected every 100 ms, the young objects take
    under 1 ms on average and at most 6 ms; a full collection, as long as before, comes once in
    10 minutes. The states hold no reference cycles (they are freed as soon as they are
    replaced), so little garbage waits for it: the automatic full collections it replaces
    found about a hundred objects each.
    """

    def __init__(
        self,
        young_s: float = YOUNG_INTERVAL_S,
        full_s: float = FULL_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.young_s = young_s
        self.full_s = full_s
        self.young_collections = 0
        self.full_collections = 0

    async def on_start(self) -> None:
        """Take over from the automatic collector."""
        gc.disable()

    async def on_stop(self) -> None:
        """Hand back to the automatic collector."""
        gc.enable()

    @Service.task
    async def _collect(self) -> None:
        last_full = time.monotonic()
        while not self.should_stop:
            await self.sleep(self.young_s)
            if time.monotonic() - last_full >= self.full_s:
                gc.collect()
                self.full_collections += 1
                last_full = time.monotonic()
            else:
                gc.collect(1)
                self.young_collections += 1
