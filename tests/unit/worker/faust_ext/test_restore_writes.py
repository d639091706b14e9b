"""Restored batches on faust's real RocksDB store: written without the WAL, and kill -9 safe."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP

from streams.settings import Settings
from streams.worker.app import build
from streams.worker.faust_ext.bulk_restore import Backlog
from streams.worker.faust_ext.restore_writes import ChangelogRecord, RestoreWrites

CHANGELOG = "u.leadq-lead-state-changelog"
BATCHES, PER_BATCH = 20, 500  # 10,000 records: offset o holds key k{o % 3000}, value v{o}


def rows(first: int, count: int) -> list[ChangelogRecord]:
    tp = TP(CHANGELOG, 1)
    return [
        ChangelogRecord(tp, o, f"k{o % 3000}".encode(), f"v{o}".encode())
        for o in range(first, first + count)
    ]


# Runs in a child process that ends by kill -9 (nothing is closed or flushed on the way out).
CHILD = textwrap.dedent(
    f"""
    import asyncio, os, signal, sys
    from pathlib import Path
    from faust.types import TP
    from streams.settings import Settings
    from streams.worker.app import build
    from streams.worker.faust_ext.bulk_restore import Backlog
    from streams.worker.faust_ext.restore_writes import RestoreWrites
    from tests.unit.worker.faust_ext.test_restore_writes import rows

    data_dir, step = Path(sys.argv[1]), sys.argv[2]
    table = build(Settings(topic_prefix="u.", data_dir=data_dir, store="rocksdb://")).table
    tp = TP("{CHANGELOG}", 1)
    store = table.data

    async def main() -> None:
        writes = RestoreWrites({{}})
        backlog = Backlog(tp, table, 0, {BATCHES * PER_BATCH})
        for b in range({BATCHES}):
            await writes.put(backlog, rows(b * {PER_BATCH}, {PER_BATCH}))
        await writes.drain()
        if step in ("closed", "closed-then-processed"):
            writes.close()
        if step in ("processed", "closed-then-processed"):
            # Normal processing: a WAL'd write of a state and of the persisted offset.
            db = store._db_for_partition(1)
            db.put(b"k-new", b"v-new")
            store.set_persisted_offset(tp, {BATCHES * PER_BATCH})

    asyncio.run(main())
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def killed_after(tmp_path: Path, step: str) -> Any:
    """Run the child up to `step`, kill -9 it, and reopen its store."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), step],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return build(Settings(topic_prefix="u.", data_dir=tmp_path, store="rocksdb://")).table


def assert_offset_covered(table: Any) -> int | None:
    """Every record up to the persisted offset is in the store (the last value of its key
    at or below that offset); returns the offset."""
    offset: int | None = table.persisted_offset(TP(CHANGELOG, 1))
    if offset is None:
        return None
    db = table.data._db_for_partition(1)
    upto = min(offset, BATCHES * PER_BATCH - 1)
    for key_no in range(3000):
        last = max((o for o in range(key_no, upto + 1, 3000)), default=None)
        if last is not None:
            assert db.get(f"k{key_no}".encode()) == f"v{last}".encode(), (key_no, offset)
    return offset


@pytest.mark.parametrize("step", ["written", "closed", "closed-then-processed"])
def test_a_kill_never_leaves_an_offset_beyond_the_restored_data(tmp_path: Path, step: str) -> None:
    table = killed_after(tmp_path, step)
    offset = assert_offset_covered(table)
    if step == "closed":
        assert offset == BATCHES * PER_BATCH - 1  # flushed: all of it survives
    if step == "closed-then-processed":
        assert offset == BATCHES * PER_BATCH
        assert table.data._db_for_partition(1).get(b"k-new") == b"v-new"


def test_without_the_flush_processing_would_persist_an_offset_beyond_lost_data(
    tmp_path: Path,
) -> None:
    # Why close() flushes before anything else writes: the WAL'd offset outlives the kill,
    # the restored records written without the WAL do not.
    table = killed_after(tmp_path, "processed")
    assert table.persisted_offset(TP(CHANGELOG, 1)) == BATCHES * PER_BATCH
    assert table.data._db_for_partition(1).get(b"k0") is None


def wal_bytes(path: str) -> int:
    """The size of a RocksDB database's write-ahead log files."""
    return sum(f.stat().st_size for f in Path(path).glob("*.log"))


@pytest.mark.asyncio
async def test_batches_skip_the_wal_and_close_flushes_them(tmp_path: Path) -> None:
    table = build(Settings(topic_prefix="u.", data_dir=tmp_path, store="rocksdb://")).table
    db = table.data._db_for_partition(1)
    offsets: dict[TP, int] = {}
    writes = RestoreWrites(offsets)
    backlog = Backlog(TP(CHANGELOG, 1), table, 0, 1000)
    await writes.put(backlog, rows(0, 500))
    await writes.put(backlog, rows(500, 500))
    await writes.drain()
    assert offsets == {TP(CHANGELOG, 1): 999}
    assert backlog.restored == 1000
    assert db.property_int_value("rocksdb.cur-size-all-mem-tables") > 0
    assert wal_bytes(db.path()) == 0  # nothing of the batches in the write-ahead log
    writes.close()
    assert db.property_int_value("rocksdb.num-entries-active-mem-table") == 0
    assert table.persisted_offset(TP(CHANGELOG, 1)) == 999
    assert db.get(b"k999") == b"v999"
