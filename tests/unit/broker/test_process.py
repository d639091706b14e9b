"""Pid files and telling whether a broker process runs; no JVM is started."""

from __future__ import annotations

import os
from pathlib import Path

from streams.broker.node import LocalBroker
from streams.broker.process import PidRecord


def test_stale_pid_file_of_a_dead_process(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    (tmp_path / "broker.pid").write_text(
        "pid=2147483646\nhost=127.0.0.1\nport=9092\ncontroller_port=9093\n", encoding="utf-8"
    )
    status = broker.status()
    assert (status.running, status.pid) == (False, None)
    assert broker.stop() is False
    assert not (tmp_path / "broker.pid").exists()


def test_pid_file_naming_a_live_process_that_is_not_our_broker(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    (tmp_path / "broker.pid").write_text(
        f"pid={os.getpid()}\nhost=127.0.0.1\nport=9092\ncontroller_port=9093\n", encoding="utf-8"
    )
    assert broker.status().running is False
    assert broker.stop() is False  # and, above all, this test process was not signalled


def test_garbled_pid_file(tmp_path: Path) -> None:
    (tmp_path / "broker.pid").write_text("not a pid file", encoding="utf-8")
    assert LocalBroker(tmp_path).status().running is False


def test_pid_record_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "broker.pid"
    plain = PidRecord(pid=42, host="::1", port=9092, controller_port=9093)
    plain.write(path)
    assert PidRecord.read(path) == plain
    assert plain.bootstrap == "[::1]:9092"
    secure = PidRecord(pid=43, host="127.0.0.1", port=9092, controller_port=9093, secure_port=9094)
    secure.write(path)
    assert PidRecord.read(path) == secure
    assert PidRecord.read(tmp_path / "missing.pid") is None
