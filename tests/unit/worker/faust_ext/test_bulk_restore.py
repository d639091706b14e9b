"""The bulk restore without a broker: backlogs, batches through faust's real stores, the loop."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP

from streams.settings import Settings
from streams.worker.app import build
from streams.worker.faust_ext import bulk_restore
from streams.worker.faust_ext.bulk_restore import (
    Backlog,
    BulkRestoreRecovery,
    FlushFailed,
    backlogs,
    bulk_capable,
    restore,
)
from streams.worker.faust_ext.restore_writes import ChangelogRecord, RestoreWrites

CHANGELOG = "u.leadq-lead-state-changelog"
STORES = ["rocksdb://", "memory://"]


def settings(tmp_path: Path, store: str = "rocksdb://") -> Settings:
    return Settings(topic_prefix="u.", data_dir=tmp_path, store=store)


@pytest.fixture(params=STORES)
def table(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return build(settings(tmp_path, request.param)).table


def stored(table: Any, partition: int, key: bytes) -> bytes | None:
    """What the table's store holds for a key (read as faust's stores keep it)."""
    if isinstance(table.data, RocksDBStore):
        value: bytes | None = table.data._db_for_partition(partition).get(key)
        return value
    return table.data.data.get(key)  # type: ignore[no-any-return]


def records(tp: TP, rows: list[tuple[int, bytes, bytes | None]]) -> list[ChangelogRecord]:
    return [ChangelogRecord(tp, offset, key, value) for offset, key, value in rows]


def test_the_app_recovers_with_the_bulk_restore_and_the_settings_clients(tmp_path: Path) -> None:
    app = build(settings(tmp_path)).app
    recovery = app.tables.recovery
    assert isinstance(recovery, BulkRestoreRecovery)
    assert recovery.client_kwargs["bootstrap_servers"] == ["127.0.0.1:9092"]


@pytest.mark.asyncio
async def test_the_table_manager_starts_without_faust_s_second_of_sleep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = build(settings(tmp_path)).app.tables
    steps: list[str] = []

    async def step(name: str, *args: Any) -> None:
        steps.append(name)

    monkeypatch.setattr(manager, "sleep", partial(step, "sleep"))
    monkeypatch.setattr(manager, "_update_channels", partial(step, "channels"))
    monkeypatch.setattr(manager.recovery, "start", partial(step, "recovery"))
    await manager.on_start()
    assert steps == ["channels", "recovery"]


@pytest.mark.asyncio
async def test_a_batch_is_stored_with_its_offset_and_tombstones_delete(table: Any) -> None:
    tp = TP(CHANGELOG, 2)
    backlog = Backlog(tp, table, start=5, end=8)
    offsets: dict[TP, int] = {}
    writes = RestoreWrites(offsets)
    await writes.put(backlog, records(tp, [(5, b"a", b"1"), (6, b"b", b"2"), (7, b"a", None)]))
    await writes.drain()
    writes.close()
    assert stored(table, 2, b"a") is None
    assert stored(table, 2, b"b") == b"2"
    assert offsets == {tp: 7}
    assert backlog.restored == 3
    if isinstance(table.data, RocksDBStore):
        assert table.persisted_offset(tp) == 7  # faust starts after it next time


def test_backlogs_start_after_the_last_applied_offset_and_end_at_the_highwater(
    tmp_path: Path,
) -> None:
    table = build(settings(tmp_path)).table
    fresh, behind, empty, current = (TP(CHANGELOG, p) for p in range(4))
    found = backlogs(
        [current, empty, behind, fresh],
        {tp: table for tp in (fresh, behind, empty, current)},
        {fresh: 99, behind: 99, empty: -1, current: 50},  # faust's: end offset - 1
        {fresh: None, behind: 41, empty: None, current: 50},
    )
    assert [(b.tp, b.start, b.end, b.total) for b in found] == [
        (fresh, 0, 100, 100),
        (behind, 42, 100, 58),
    ]


def test_a_table_with_a_changelog_callback_is_left_to_faust(tmp_path: Path) -> None:
    worker = build(settings(tmp_path))
    assert bulk_capable(worker.table)

    async def callback(event: Any) -> None:
        return None

    table = worker.app.Table(
        "with-callback", default=None, key_type=bytes, value_type=bytes, on_changelog_event=callback
    )
    assert not bulk_capable(table)
    assert backlogs([TP(CHANGELOG, 0)], {TP(CHANGELOG, 0): table}, {TP(CHANGELOG, 0): 9}, {}) == []


@dataclass
class FakeChangelog:
    """A stand-in for the changelog reader over fixed partitions: it hands out at most
    `per_fetch` records a call from the offset asked for, and the offset after them."""

    logs: dict[int, list[ConsumerRecord[bytes, bytes]]]
    per_fetch: int = 3
    asked: list[tuple[TopicPartition, int]] = field(default_factory=list)

    async def fetch(
        self, tp: TopicPartition, offset: int
    ) -> tuple[list[ConsumerRecord[bytes, bytes]], int]:
        self.asked.append((tp, offset))
        batch = [r for r in self.logs[tp.partition] if r.offset >= offset][: self.per_fetch]
        return batch, batch[-1].offset + 1 if batch else offset


def changelog(count: int, first: int = 0) -> list[ConsumerRecord[bytes, bytes]]:
    """A changelog partition's records from offset `first` on, as aiokafka fetches them."""
    return [
        ConsumerRecord(
            CHANGELOG, 0, o, 0, 0, f"k{o % 4}".encode(), f"v{o}".encode(), None, 2, 2, ()
        )
        for o in range(first, count)
    ]


def always() -> bool:
    return True


def until_calls(calls: int) -> Callable[[], bool]:
    """current() that holds for its first `calls` calls (then a rebalance has begun)."""
    made = 0

    def current() -> bool:
        nonlocal made
        made += 1
        return made <= calls

    return current


@pytest.mark.asyncio
async def test_the_loop_restores_each_backlog_up_to_its_end_and_no_further(table: Any) -> None:
    # Partition 1 grew after faust read its highwater: offsets 10.. are left to faust.
    fake = FakeChangelog({0: changelog(7), 1: changelog(12)})
    items = [Backlog(TP(CHANGELOG, 0), table, 2, 7), Backlog(TP(CHANGELOG, 1), table, 0, 10)]
    offsets: dict[TP, int] = {}
    assert await restore(fake, items, offsets, always, stall_s=60.0)
    assert offsets == {TP(CHANGELOG, 0): 6, TP(CHANGELOG, 1): 9}
    assert [b.restored for b in items] == [5, 10]
    assert stored(table, 1, b"k1") == b"v9"  # the last value of the key below the end wins


@pytest.mark.asyncio
async def test_a_rebalance_stops_the_loop_before_its_next_write(table: Any) -> None:
    fake = FakeChangelog({0: changelog(9)})
    item = Backlog(TP(CHANGELOG, 0), table, 0, 9)
    offsets: dict[TP, int] = {}
    # Two fetches pass the check, the third finds a rebalance under way.
    done = await restore(fake, [item], offsets, until_calls(2), stall_s=60.0)
    assert not done
    assert offsets == {TP(CHANGELOG, 0): 5}  # two batches of 3, with their offset
    assert item.restored == 6
    assert stored(table, 0, b"k2") == b"v2"  # offset 6 (k2 = v6) was never written


@pytest.mark.asyncio
async def test_a_partition_that_makes_no_progress_is_left_to_faust(table: Any) -> None:
    fake = FakeChangelog({0: changelog(3)})  # ends at offset 2, though faust expects 9
    item = Backlog(TP(CHANGELOG, 0), table, 0, 10)
    offsets: dict[TP, int] = {}
    assert not await restore(fake, [item], offsets, always, stall_s=0.0)
    assert offsets == {TP(CHANGELOG, 0): 2}


@pytest.mark.asyncio
async def test_progress_names_the_partition_and_the_counts(
    table: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streams.worker.faust_ext.bulk_restore.PROGRESS_EVERY_S", 0.0)
    fake = FakeChangelog({0: changelog(9)})
    with caplog.at_level(logging.INFO, logger="streams.worker.faust_ext.bulk_restore"):
        await restore(fake, [Backlog(TP(CHANGELOG, 0), table, 0, 9)], {}, always, stall_s=60.0)
    lines = [r.getMessage() for r in caplog.records]
    assert f"bulk restore {CHANGELOG}[0]: 3/9 records (all partitions: 3/9)" in lines
    assert lines[-1].startswith("bulk restore: 9 records of 1 changelog partitions in ")


@pytest.mark.asyncio
async def test_a_restore_that_fails_leaves_the_work_to_faust(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streams.worker.faust_ext.bulk_restore.RETRY_WAIT_S", 0.0)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    worker = build(
        settings(tmp_path).model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    )
    recovery = worker.app.tables.recovery
    tp = TP(CHANGELOG, 0)
    recovery.tp_to_table[tp] = worker.table
    recovery.active_highwaters[tp] = 5_000
    offsets: dict[TP, int | None] = {tp: None}
    with caplog.at_level(logging.WARNING, logger="streams.worker.faust_ext.bulk_restore"):
        await recovery.bulk_restore({tp}, offsets)  # does not raise: faust's recovery goes on
    assert offsets == {tp: None}
    lines = [r.getMessage() for r in caplog.records if r.name == bulk_restore.__name__]
    assert [line.split(" (")[0] for line in lines] == [
        "bulk restore attempt 1 of 3 failed",
        "bulk restore attempt 2 of 3 failed",
        "bulk restore failed",
    ]
    assert lines[-1].endswith("faust's recovery reads the rest")


@dataclass
class FlakyChangelog(FakeChangelog):
    """A changelog reader client whose connection breaks once, at the fetch from
    `broken_at`; it counts its starts and stops."""

    broken_at: int = 0
    starts: int = 0
    stops: int = 0

    async def start(self) -> None:
        self.starts += 1

    async def stop(self) -> None:
        self.stops += 1

    async def fetch(
        self, tp: TopicPartition, offset: int
    ) -> tuple[list[ConsumerRecord[bytes, bytes]], int]:
        if offset == self.broken_at and self.starts == 1:
            raise KafkaConnectionError("connection to the leader lost")
        return await super().fetch(tp, offset)


@pytest.mark.asyncio
async def test_a_broker_error_restores_again_from_the_offsets_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streams.worker.faust_ext.bulk_restore.RETRY_WAIT_S", 0.0)
    worker = build(settings(tmp_path))
    recovery = worker.app.tables.recovery
    tp = TP(CHANGELOG, 0)
    recovery.tp_to_table[tp] = worker.table
    recovery.active_highwaters[tp] = 999  # offsets 0..999
    flaky = FlakyChangelog({0: changelog(1000)}, per_fetch=300, broken_at=300)
    monkeypatch.setattr(recovery, "reader", lambda: flaky)
    offsets: dict[TP, int | None] = {tp: None}
    with caplog.at_level(logging.WARNING, logger="streams.worker.faust_ext.bulk_restore"):
        await recovery.bulk_restore({tp}, offsets)
    assert offsets == {tp: 999}
    assert (flaky.starts, flaky.stops) == (2, 2)
    # The fetch from 300 failed; the second attempt went on from the batch written before.
    assert [offset for _, offset in flaky.asked] == [0, 300, 600, 900]
    assert stored(worker.table, 0, b"k3") == b"v999"
    lines = [r.getMessage() for r in caplog.records if r.name == bulk_restore.__name__]
    assert [line.split(" (")[0] for line in lines] == ["bulk restore attempt 1 of 3 failed"]


@pytest.mark.asyncio
async def test_a_failed_flush_is_not_retried_and_stops_faust_s_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = build(settings(tmp_path))
    recovery = worker.app.tables.recovery
    tp = TP(CHANGELOG, 0)
    recovery.tp_to_table[tp] = worker.table
    recovery.active_highwaters[tp] = 999
    reader = FlakyChangelog({0: changelog(1000)}, per_fetch=300, broken_at=-1)
    monkeypatch.setattr(recovery, "reader", lambda: reader)

    real_close = RestoreWrites.close

    def close(self: RestoreWrites) -> None:
        real_close(self)  # its thread stopped, then the flush "fails"
        raise OSError("disk full")

    monkeypatch.setattr(RestoreWrites, "close", close)
    with pytest.raises(FlushFailed, match="disk full"):
        await recovery.bulk_restore({tp}, {tp: None})
    assert reader.starts == 1
