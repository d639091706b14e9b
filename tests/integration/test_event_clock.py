"""On the real broker: the timer's clock. An event dated in the future is dead-lettered and
moves no other lead's time on; a live worker whose input goes quiet still makes
time-driven changes on time (by the wall clock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.settings import Settings
from streams.tools.expected import valid_events
from tests.support.kafka import collect, produce, running_workers

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

TIMER_INTERVAL_S = 0.5
# The settle time after the last expected record: many timer rounds, in which a wrong
# tick would have been sent and applied.
SETTLE_S = 3.0

QUICK_DECAY = """
name = "quick-decay"
version = "1"
allowed_lateness = "1s"
late_events = "accept"

[engagement]
half_life = "3s"

[demotion]
below = 20
description = "Went cold"

[signals.webinar]
description = "Attended a webinar"
points = 25
match = [{ type = "webinar_attended" }]

[stages.sql]
description = "Engaged"
criteria = { score = "engagement", gte = 20 }

[stages.sqo]
description = "Engaged a thousandfold (never, here)"
criteria = { score = "engagement", gte = 1000 }
"""


def webinar(event_id: str, lead_id: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "webinar_attended",
        "lead_id": lead_id,
        "occurred_at": at.isoformat(),
        "properties": {"webinar": "launch"},
    }


def ebook(event_id: str, lead_id: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "content_download",
        "lead_id": lead_id,
        "occurred_at": at.isoformat(),
        "properties": {"asset": "guide.pdf", "asset_type": "ebook"},
    }


def website(value: dict[str, Any]) -> tuple[str, bytes, bytes]:
    return ("leads.website", str(value["lead_id"]).encode(), orjson.dumps(value))


async def test_an_event_from_the_future_is_dead_lettered_and_demotes_no_other_lead(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rules="startup", timer_interval_s=TIMER_INTERVAL_S)
    now = datetime.now(UTC)
    typo = ebook("typo", "B", datetime(2099, 1, 1, tzinfo=UTC))
    async with running_workers(settings):
        await produce(settings, [website(ebook("a1", "A", now - timedelta(minutes=1)))])
        await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= 1)
        await produce(settings, [website(typo)])
        [letter] = await collect(settings, "leads.dead-letter", until=lambda r: len(r) >= 1)
        # A later event of a third lead shows the worker has read past the typo.
        await produce(settings, [website(ebook("c1", "C", now))])
        records = await collect(
            settings,
            "leads.stage-changes",
            until=lambda r: any(c["lead_id"] == "C" for c in r),
            settle_s=SETTLE_S,
        )
    assert letter["error"]["code"] == "from_future"
    assert letter["source_topic"] == settings.topic("leads.website")
    assert orjson.loads(letter["value"]) == typo
    assert sorted((c["lead_id"], c["from_stage"], c["to_stage"]) for c in records) == [
        ("A", "lead", "sql"),
        ("C", "lead", "sql"),
    ]


async def test_a_quiet_live_worker_makes_a_time_driven_change_on_time(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    rules = tmp_path / "quick-decay.toml"
    rules.write_text(QUICK_DECAY)
    settings = make_settings(rules=str(rules), timer_interval_s=TIMER_INTERVAL_S)
    async with running_workers(settings):
        value = webinar("w1", "cooling", datetime.now(UTC))
        events, _ = valid_events([("website", value)])
        qualifier = Qualifier(load_ruleset(str(rules)))
        state, _ = qualifier.fold(events, "cooling")
        due_ms = qualifier.next_due_ms(state)
        assert due_ms is not None
        await produce(settings, [website(value)])
        # Nothing else is produced: only the wall clock can make the lead due.
        records = await collect(settings, "leads.stage-changes", until=lambda r: len(r) >= 2)
    sql, demotion = records
    assert (sql["from_stage"], sql["to_stage"]) == ("lead", "sql")
    assert (demotion["from_stage"], demotion["to_stage"]) == ("sql", "lead")
    assert demotion["trigger_event_id"] is None
    emitted_ms = datetime.fromisoformat(demotion["emitted_at"]).timestamp() * 1000
    assert emitted_ms >= due_ms
    # Within a timer round of its due time, plus the time a tick takes through the broker.
    assert emitted_ms - due_ms <= (TIMER_INTERVAL_S + 5.0) * 1000
