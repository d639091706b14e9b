"""faust's producer buffer: keeping the changelog writes queued in it short."""

from __future__ import annotations

import asyncio

import faust


async def hand_over_changelog(app: faust.App, most: int) -> None:
    """Let faust hand the changelog writes queued so far to the producer before going on.

    Table writes queue their changelog records in faust's producer buffer; while more
    than 100 wait there, faust throttles its consumer for every fetched message, and
    a starved worker then takes in ever smaller batches. Waiting here (flushing once more
    than `most` wait) instead keeps the buffer short.
    """
    buffer = app.producer.buffer
    await asyncio.sleep(0)  # faust's buffer task usually drains it in one go
    if buffer.size > most:
        await buffer.flush()
