"""The hostile-input test's fuzz corpus, drawn once per session in a process of its own."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.pool

from tests.support.fuzz_messages import DEFAULT_COUNTS, FuzzMessage, corpus_rounds

FUZZ_SEED = 20260301
ROUNDS = 5  # parts of the corpus, each mixed with its share of simulated traffic

Parts = list[list[tuple[str, FuzzMessage]]]

_pool: multiprocessing.pool.Pool | None = None
_drawing: concurrent.futures.Future[Parts] | None = None


def draw_corpus() -> Parts:
    """The fuzz corpus, in parts (the same bytes at every run)."""
    return list(corpus_rounds(DEFAULT_COUNTS, FUZZ_SEED, ROUNDS))


def drawing() -> concurrent.futures.Future[Parts]:
    """The corpus being drawn: started by the first call, the same future after.

    Hypothesis draws it in a spawned process: in a thread of the test process, the global
    `random` module that libraries there use (aiokafka's clients among them) makes
    Hypothesis see its strategies as non-deterministic. The drawing is CPU work alone
    (about 15 s of one core), so a session that runs the test starts it once collected
    (tests/integration/conftest.py): it runs on the second core while the tests before
    run (the unit tests use one core, the integration tests mostly wait on Kafka and
    worker processes) and is done by the time the test needs it.
    """
    global _pool, _drawing
    if _drawing is None:
        future: concurrent.futures.Future[Parts] = concurrent.futures.Future()

        def done(parts: Parts) -> None:
            if future.set_running_or_notify_cancel():  # not cancelled by a waiter
                future.set_result(parts)

        def failed(error: BaseException) -> None:
            if future.set_running_or_notify_cancel():
                future.set_exception(error)

        _pool = multiprocessing.get_context("spawn").Pool(1)
        _pool.apply_async(draw_corpus, callback=done, error_callback=failed)
        _drawing = future
    return _drawing


def stop_drawing() -> None:
    """End the drawing process (a drawing not done yet is given up)."""
    global _pool, _drawing
    if _pool is not None:
        _pool.terminate()
        _pool.join()
    _pool = _drawing = None
