"""The lead store on faust's real table stores: decoded states in memory, batched writes, the
changelog and its persisted offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.types import TP, EventT, Message

from streams.core.state import LeadState
from streams.settings import Settings
from streams.worker.app import build
from streams.worker.codec import decode_state, encode_state
from streams.worker.faust_ext.local_store import LocalStore
from streams.worker.lead_store import LeadStore

CHANGELOG = "u.leadq-lead-state-changelog"
STORES = ["rocksdb://", "memory://"]

pytestmark = pytest.mark.asyncio


class AckedChangelog:
    """A ChangelogSender that sends each call's records as one batch, acknowledged when the
    test says so (offsets count the records of all partitions)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, int]] = []
        self.futures: list[asyncio.Future[int]] = []
        self.last: list[int] = []  # the offset of each batch's last record

    async def send_records(
        self, topic: str, partition: int, records: Sequence[tuple[bytes, bytes]]
    ) -> list[asyncio.Future[int]]:
        self.sent += [(topic, key, value, partition) for key, value in records]
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        self.last.append(len(self.sent) - 1)
        return [future]

    def ack_all(self) -> None:
        for future, last in zip(self.futures, self.last, strict=True):
            if not future.done():
                future.set_result(last)


@pytest.fixture(params=STORES)
def table(request: pytest.FixtureRequest, tmp_path: Path) -> faust.Table:
    settings = Settings(topic_prefix="u.", data_dir=tmp_path, store=request.param)
    return build(settings).table


def event(app: faust.App, partition: int, generation: int = 1) -> EventT:
    message = Message(
        "u.leadq-events-by-lead", partition, 0, 0.0, 0, [], b"", b"", None, generation_id=generation
    )
    return faust.Event(app, b"", b"", [], message)


def state(key: str, sequence: int = 0) -> LeadState:
    return LeadState(key=key, stage="sql" if sequence else "lead", sequence=sequence)


async def test_a_stored_state_is_written_to_its_partition_and_the_changelog(
    table: faust.Table,
) -> None:
    changelog = AckedChangelog()
    tracked: list[asyncio.Future[Any]] = []
    leads = LeadStore(table, changelog, tracked.append)
    a, b = state("A", 1), state("B")
    await leads.put([(event(table.app, 2), b"A", a), (event(table.app, 3), b"B", b)])
    assert changelog.sent == [
        (CHANGELOG, b"A", encode_state(a), 2),
        (CHANGELOG, b"B", encode_state(b), 3),
    ]
    assert tracked == changelog.futures  # one batch per partition; faust's commits wait for them
    assert len(tracked) == 2
    local = LocalStore(table)
    assert local.read(b"A", 2) == encode_state(a)
    assert local.read(b"B", 3) == encode_state(b)
    assert leads.get(b"A", event(table.app, 2)) is a  # from memory, not decoded again


async def test_the_persisted_offset_is_the_last_acknowledged_one_of_each_partition(
    tmp_path: Path,
) -> None:
    table = build(Settings(topic_prefix="u.", data_dir=tmp_path)).table
    changelog = AckedChangelog()
    leads = LeadStore(table, changelog, lambda _: None)
    writes = [(event(table.app, 1), key, state(key.decode())) for key in (b"A", b"B", b"C")]
    await leads.put(writes)
    assert table.data.persisted_offset(TP(CHANGELOG, 1)) is None  # nothing acknowledged yet
    changelog.ack_all()
    await asyncio.sleep(0)  # the done-callbacks run on the next loop iteration
    assert table.data.persisted_offset(TP(CHANGELOG, 1)) == 2


async def test_a_failed_changelog_write_is_not_recorded_as_persisted(tmp_path: Path) -> None:
    table = build(Settings(topic_prefix="u.", data_dir=tmp_path)).table
    changelog = AckedChangelog()
    leads = LeadStore(table, changelog, lambda _: None)
    await leads.put([(event(table.app, 0), b"A", state("A"))])
    changelog.futures[0].set_exception(RuntimeError("broker gone"))
    await asyncio.sleep(0)
    assert table.data.persisted_offset(TP(CHANGELOG, 0)) is None


async def test_a_new_consumer_generation_reads_the_local_store_again(table: faust.Table) -> None:
    leads = LeadStore(table, AckedChangelog(), lambda _: None)
    await leads.put([(event(table.app, 0, generation=1), b"A", state("A"))])
    # Recovery after a rebalance rewrote the partition with another worker's state.
    restored = state("A", 3)
    LocalStore(table).write([(0, b"A", encode_state(restored))])
    assert leads.get(b"A", event(table.app, 0, generation=1)) == state("A")
    assert leads.get(b"A", event(table.app, 0, generation=2)) == restored


async def test_memory_holds_the_most_recently_stored_leads(table: faust.Table) -> None:
    leads = LeadStore(table, AckedChangelog(), lambda _: None, capacity=2)
    on_0 = event(table.app, 0)
    await leads.put([(on_0, b"A", state("A")), (on_0, b"B", state("B"))])
    await leads.put([(on_0, b"A", state("A", 1)), (on_0, b"C", state("C"))])
    assert list(leads.cached) == [b"A", b"C"]
    found = leads.get(b"B", on_0)  # evicted: read from the local store and decoded
    assert found == state("B")
    assert found == decode_state(encode_state(state("B")))
    assert len(leads.cached) == 2


async def test_an_unknown_lead_has_no_state(table: faust.Table) -> None:
    leads = LeadStore(table, AckedChangelog(), lambda _: None)
    assert leads.get(b"nobody", event(table.app, 1)) is None
