"""A table's local store read directly: every stored key in slices, safe across awaits."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest
from faust.types import TP

from streams.settings import Settings
from streams.worker.app import build
from streams.worker.faust_ext.local_store import LocalStore

CHANGELOG = "u.leadq-lead-state-changelog"
PARTITIONS = 4


@pytest.fixture(params=["rocksdb://", "memory://"])
def table(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> faust.Table:
    settings = Settings(
        topic_prefix="u.", data_dir=tmp_path, store=request.param, partitions=PARTITIONS
    )
    table = build(settings).table
    actives = {TP(CHANGELOG, p) for p in range(PARTITIONS)}
    monkeypatch.setattr(table.app.assignor, "assigned_actives", lambda: actives)
    return table


def fill(store: LocalStore, leads: int) -> dict[bytes, bytes]:
    written = {f"L-{n:04}".encode(): f"state {n}".encode() for n in range(leads)}
    store.write((n % PARTITIONS, key, value) for n, (key, value) in enumerate(written.items()))
    for partition in range(PARTITIONS):
        store.persist_offset(TP(CHANGELOG, partition), 41)
    return written


def test_slices_hold_every_stored_key_once_and_not_the_persisted_offsets(
    table: faust.Table,
) -> None:
    store = LocalStore(table)
    written = fill(store, 601)
    slices = list(store.item_slices(100))
    assert all(0 < len(found) <= 100 for found in slices)
    read = [item for found in slices for item in found]
    assert len(read) == len(written)
    assert dict(read) == written


@pytest.mark.parametrize("table", ["rocksdb://"], indirect=True)
def test_a_partition_revoked_between_slices_ends_there(table: faust.Table) -> None:
    store = LocalStore(table)
    written = fill(store, 400)
    slices = store.item_slices(10)
    first = next(slices)  # of partition 0, written first
    revoked = 0
    store.store._dbs.pop(revoked)  # as faust's revoke_partitions
    rest = [item for found in slices for item in found]
    in_revoked = {k for n, k in enumerate(written) if n % PARTITIONS == revoked}
    assert {k for k, _ in first} <= in_revoked
    assert {k for k, _ in rest} == set(written) - in_revoked
