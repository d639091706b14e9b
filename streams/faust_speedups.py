"""A cheaper hand-over of fetched messages in faust's consumer loop, same semantics.

faust-streaming 0.15.x hands every fetched message to the streams with
`await self.wait_first(callback(message), self.suspend_flow.wait())`: four tasks
(the callback, `suspend_flow`, `_stopped`, `_crashed`) and an `asyncio.wait` per message,
so that a callback blocked by back-pressure is abandoned when a rebalance suspends the
flow. Almost every callback finishes without ever suspending (the stream's queue has
room), and then those tasks are pure overhead: about a tenth of a worker's CPU.

`_drain_messages_fast` is faust's loop with one change: it first steps the callback's
coroutine once, synchronously. If the callback finishes in that step, the message has
been delivered exactly as it would have been by the callback's task (which would also
have run to completion in its first step, before any of the other three tasks). If it
suspends, the rest of the same coroutine runs under faust's own `wait_first`, so
abandoning it on a suspended flow, a stop or a crash works as before.
`LEADQ_FAUST_SPEEDUPS=0` turns this off.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Generator
from typing import Any, Final, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from mode import Service

COPIED_VERSION: Final = "0.15.3"  # the loop below is a copy of this version's
ORIGINAL_DRAIN_MESSAGES: Final = Consumer._drain_messages


class _Rest:
    """Awaitable for the rest of a coroutine that has already yielded `first` (PEP 380)."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        value = self.first
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # cancellation included: passed on, as by `await`
                try:
                    value = self.coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    value = self.coro.send(sent)
                except StopIteration as done:
                    return done.value


async def _finish(coro: Coroutine[Any, Any, Any], first: Any) -> Any:
    return await _Rest(coro, first)


async def _deliver(consumer: Any, callback: Any, message: Any) -> None:
    """Hand one message to the streams; see the module docstring."""
    coro = callback(message)
    try:
        first = coro.send(None)
    except StopIteration:
        return  # delivered without suspending
    except BaseException:
        coro.close()
        raise
    await consumer.wait_first(_finish(coro, first), consumer.suspend_flow.wait())


async def _drain_messages_fast(self: Any, fetcher: Any) -> None:  # pragma: no cover
    """faust 0.15.3's Consumer._drain_messages, delivering through `_deliver`."""
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for

    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = getmany(timeout=1.0)

            # Sleeping because sometimes getmany is called in a loop
            # never releasing to the event loop
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0

                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        # We have a gap in income messages
                        if gap > 1 and r_offset:
                            acks_enabled = acks_enabled_for(message.topic)
                            if acks_enabled:
                                await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await _deliver(self, callback, message)
                        set_read_offset(tp, offset)
                    else:
                        self.log.dev(
                            "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                            offset,
                            message.key,
                            message.value,
                        )
                unset_flag(flag_consumer_fetching)

    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)


def apply() -> bool:
    """Install the fast loop (once); False if turned off or faust is not the version copied."""
    if os.environ.get("LEADQ_FAUST_SPEEDUPS", "1") == "0":
        return False
    if faust.__version__ != COPIED_VERSION:
        return False
    Consumer._drain_messages = _drain_messages_fast
    return True
