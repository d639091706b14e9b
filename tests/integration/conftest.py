"""Starts the hostile-input fuzz corpus drawing early when the session runs that test."""

from __future__ import annotations

import pytest

from tests.support.hostile_corpus import drawing, stop_drawing

HOSTILE_TEST = "test_hostile_input.py::test_ten_thousand_hostile_messages_never_stop_the_worker"


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(item.nodeid.endswith(HOSTILE_TEST) for item in session.items):
        drawing()


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_drawing()
