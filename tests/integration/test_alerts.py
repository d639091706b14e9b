"""On the real broker, with receivers on 127.0.0.1: the alert service delivers what matches,
signed; retries, honours Retry-After, gives up into the dead letter; keeps each lead in
order without holding up others; and after a restart re-delivers only what was unfinished."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import jsonschema
import pytest

from schemas.export import JSON_DIR
from streams.settings import Settings
from streams.worker.topics import ALERTS_DEAD_LETTER, SLA, STAGE_CHANGES, partition_of
from tests.support.alert_records import new_secret, record, signature_ok, sla_event, stage_change
from tests.support.alerts import (
    Hit,
    Reply,
    always,
    committed_to_end,
    end_offsets,
    receivers,
    running_alerts,
    until,
)
from tests.support.kafka import collect, produce

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

TOPICS = [STAGE_CHANGES, SLA]
FAST = {"timeout": "1s", "backoff": "50ms", "backoff_max": "200ms"}


def toml(value: Any) -> str:
    """A value written as TOML (strings, booleans, lists of strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(value)


def destination(name: str, url: str, secret_env: str | None = None, **options: Any) -> str:
    """One [[destination]] table: a webhook (with secret_env) or Slack (without)."""
    kind = "webhook" if secret_env else "slack"
    lines = [f"name = {toml(name)}", f"kind = {toml(kind)}", f"url = {toml(url)}"]
    if secret_env:
        lines.append(f"secret_env = {toml(secret_env)}")
    lines += [f"{key} = {toml(value)}" for key, value in {**FAST, **options}.items()]
    return "[[destination]]\n" + "\n".join(lines) + "\n\n"


async def finished(settings: Settings) -> None:
    """Until the alert group has committed both topics to their end: every record read so
    far is delivered or dead-lettered wherever it matched."""
    await until(lambda: committed_to_end(settings, TOPICS), "every record finished")


async def dead_letters(settings: Settings, count: int) -> list[dict[str, Any]]:
    return await collect(settings, ALERTS_DEAD_LETTER, until=lambda r: len(r) >= count)


async def no_dead_letters(settings: Settings) -> bool:
    ends = await end_offsets(settings, [ALERTS_DEAD_LETTER])
    return sum(ends.values()) == 0


def ids(hits: list[Hit]) -> list[str]:
    return [h.webhook_id for h in hits]


async def test_each_destination_gets_what_its_filters_match_signed(settings: Settings) -> None:
    secrets = {"A_SECRET": new_secret(), "B_SECRET": new_secret(), "C_SECRET": new_secret()}
    changes = [
        stage_change("ann", 1, "lead", "sql"),
        stage_change("ann", 2, "sql", "sqo"),
        stage_change("bob", 1, "lead", "disqualified"),
    ]
    slas = [sla_event("ann", 1, "warning"), sla_event("ann", 1, "breached")]
    async with receivers(None, None, None) as (sql_only, everything, other_rules):
        config = (
            destination("sql-only", sql_only.url, "A_SECRET", stages=["sql"])
            + destination("everything", everything.url, "B_SECRET", sla=True)
            + destination("other-rules", other_rules.url, "C_SECRET", rulesets=["startup"])
        )
        async with running_alerts(settings, config, secrets):
            await produce(
                settings,
                [record(STAGE_CHANGES, c) for c in changes] + [record(SLA, s) for s in slas],
            )
            await finished(settings)
    assert ids(sql_only.hits) == ["ann:1"]
    assert Counter(ids(everything.hits)) == Counter(
        ["ann:1", "ann:2", "bob:1", "ann:1:warning", "ann:1:breached"]
    )
    assert ids(everything.hits).index("ann:1") < ids(everything.hits).index("ann:2")
    assert other_rules.hits == []
    records = {r.get("change_id") or r["sla_event_id"]: r for r in changes + slas}
    types = {"ann:1:warning": "lead.sla_warning", "ann:1:breached": "lead.sla_breached"}
    for hit in sql_only.hits + everything.hits:
        secret = secrets["A_SECRET" if hit in sql_only.hits else "B_SECRET"]
        assert signature_ok(secret, hit.headers, hit.body)
        assert not signature_ok(secrets["C_SECRET"], hit.headers, hit.body)
        assert hit.headers["content-type"] == "application/json"
        assert hit.headers["webhook-timestamp"].isdigit()
        body = hit.json
        assert body["data"] == records[hit.webhook_id]
        assert body["type"] == types.get(hit.webhook_id, "lead.stage_changed")
        assert body["timestamp"] == (body["data"].get("occurred_at") or body["data"]["emitted_at"])
    assert await no_dead_letters(settings)


async def test_a_failed_attempt_is_retried_with_the_same_id_and_body(settings: Settings) -> None:
    secret = new_secret()
    async with (
        receivers(lambda body, seen: Reply(500 if seen == 0 else 200)) as (crm,),
        running_alerts(settings, destination("crm", crm.url, "S"), {"S": secret}),
    ):
        await produce(settings, [record(STAGE_CHANGES, stage_change("ann", 1, "lead", "sql"))])
        await finished(settings)
    assert [h.status for h in crm.hits] == [500, 200]
    first, second = crm.hits
    assert first.webhook_id == second.webhook_id == "ann:1"
    assert first.body == second.body
    assert all(signature_ok(secret, h.headers, h.body) for h in crm.hits)
    assert await no_dead_letters(settings)


async def test_retry_after_is_honoured(settings: Settings) -> None:
    def script(body: bytes, seen: int) -> Reply:
        return Reply(429, {"Retry-After": "1"}) if seen == 0 else Reply(200)

    async with (
        receivers(script) as (crm,),
        running_alerts(settings, destination("crm", crm.url, "S"), {"S": new_secret()}),
    ):
        await produce(settings, [record(STAGE_CHANGES, stage_change("ann", 1, "lead", "sql"))])
        await finished(settings)
    assert [h.status for h in crm.hits] == [429, 200]
    # The backoff alone would wait at most 0.1 s (backoff = 50ms, plus jitter).
    assert crm.hits[1].at - crm.hits[0].at >= 0.95


async def test_gone_disables_the_destination_and_dead_letters_its_share(
    settings: Settings,
) -> None:
    first = [stage_change(lead, 1, "lead", "sql") for lead in ("ann", "bob", "cat")]
    later = stage_change("dan", 1, "lead", "sql")
    async with receivers(always(410), always(200)) as (gone, fine):
        config = destination("gone", gone.url, "S") + destination("fine", fine.url, "S")
        async with running_alerts(settings, config, {"S": new_secret()}) as service:
            await produce(settings, [record(STAGE_CHANGES, c) for c in first])
            await finished(settings)
            hits_before = len(gone.hits)
            await produce(settings, [record(STAGE_CHANGES, later)])
            await finished(settings)
            disabled = service.metrics.registry.get_sample_value(
                "leadq_alert_destination_disabled", {"destination": "gone"}
            )
    assert disabled == 1
    assert 1 <= hits_before <= 3
    assert len(gone.hits) == hits_before  # nothing sent once disabled
    assert sorted(ids(fine.delivered)) == ["ann:1", "bob:1", "cat:1", "dan:1"]
    letters = await dead_letters(settings, 4)
    assert sorted(d["webhook_id"] for d in letters) == ["ann:1", "bob:1", "cat:1", "dan:1"]
    assert {d["destination"] for d in letters} == {"gone"}
    assert any(d["reason"] == "gone" and d["last_status"] == 410 for d in letters)
    last = next(d for d in letters if d["webhook_id"] == "dan:1")
    assert last["reason"] == "disabled"
    assert last["attempts"] == 0
    assert last["first_attempt_at"] is None
    assert last["event"] == later


async def test_client_errors_give_up_at_once_and_failures_after_max_age(
    settings: Settings,
) -> None:
    rejected = stage_change("ann", 1, "lead", "sql")
    expired = stage_change("bob", 1, "lead", "sql")
    async with receivers(always(400), always(503)) as (bad, down):
        config = destination("bad", bad.url, "S", stages=["sql"]) + destination(
            "down", down.url, "S", max_age="1500ms"
        )
        async with running_alerts(settings, config, {"S": new_secret()}):
            await produce(settings, [record(STAGE_CHANGES, c) for c in (rejected, expired)])
            await finished(settings)
    schema = json.loads((JSON_DIR / "leads.alerts-dead-letter.schema.json").read_text())
    letters = await dead_letters(settings, 4)
    for letter in letters:
        jsonschema.validate(letter, schema)
    by_key = {(d["destination"], d["webhook_id"]): d for d in letters}
    assert set(by_key) == {("bad", "ann:1"), ("bad", "bob:1"), ("down", "ann:1"), ("down", "bob:1")}
    once = by_key[("bad", "ann:1")]
    assert (once["reason"], once["attempts"], once["last_status"]) == ("rejected", 1, 400)
    assert once["last_error"].startswith("HTTP 400")
    assert once["event"] == rejected
    assert once["source_topic"] == settings.topic(STAGE_CHANGES)
    assert once["first_attempt_at"] <= once["gave_up_at"]
    late = by_key[("down", "bob:1")]
    assert (late["reason"], late["last_status"]) == ("expired", 503)
    assert late["attempts"] >= 2
    assert len([h for h in bad.hits if h.webhook_id == "ann:1"]) == 1


async def test_a_slow_destination_does_not_delay_another(settings: Settings) -> None:
    release = asyncio.Event()
    changes = [stage_change(lead, 1, "lead", "sql") for lead in ("ann", "bob", "cat")]
    changes.append(stage_change("ann", 2, "sql", "sqo"))
    async with receivers(lambda body, seen: Reply(200, hold=release), always(200)) as (
        slow,
        fast,
    ):
        config = destination("slow", slow.url, "S", timeout="30s") + destination(
            "fast", fast.url, "S"
        )
        async with running_alerts(settings, config, {"S": new_secret()}):
            await produce(settings, [record(STAGE_CHANGES, c) for c in changes])
            await until(lambda: len(fast.delivered) == 4, "the fast destination has all")
            assert slow.hits == []  # still held
            release.set()
            await until(lambda: len(slow.delivered) == 4, "the slow one has them too")
    assert ids(slow.delivered).index("ann:1") < ids(slow.delivered).index("ann:2")


async def test_a_lead_stays_in_order_while_others_go_on(settings: Settings) -> None:
    held_back = Reply(503, {"Retry-After": "1"})

    def script(body: bytes, seen: int) -> Reply:
        if b'"change_id":"ann:1"' in body and seen < 2:
            return held_back
        return Reply(200)

    changes = [
        stage_change("ann", 1, "lead", "sql"),
        stage_change("ann", 2, "sql", "sqo"),
        stage_change("bob", 1, "lead", "sql"),
        stage_change("bob", 2, "sql", "sqo"),
    ]
    async with (
        receivers(script) as (crm,),
        running_alerts(settings, destination("crm", crm.url, "S"), {"S": new_secret()}),
    ):
        await produce(settings, [record(STAGE_CHANGES, c) for c in changes])
        await finished(settings)
    anns = [h for h in crm.hits if h.webhook_id.startswith("ann")]
    assert [(h.webhook_id, h.status) for h in anns] == [
        ("ann:1", 503),
        ("ann:1", 503),
        ("ann:1", 200),
        ("ann:2", 200),
    ]
    bobs = [h for h in crm.delivered if h.webhook_id.startswith("bob")]
    assert ids(bobs) == ["bob:1", "bob:2"]
    assert bobs[-1].at < anns[1].at  # bob went on while ann waited


def leads_in_two_partitions(partitions: int) -> tuple[str, str]:
    """Two lead ids whose records go to different partitions."""
    first = "ann"
    home = partition_of(first.encode(), partitions)
    other = next(
        f"lead-{n}" for n in range(100) if partition_of(f"lead-{n}".encode(), partitions) != home
    )
    return first, other


async def test_a_restart_redelivers_only_what_was_unfinished(settings: Settings) -> None:
    done, stuck = leads_in_two_partitions(settings.partitions)
    stuck_first = f'"change_id":"{stuck}:1"'.encode()

    def down_for_stuck(body: bytes, seen: int) -> Reply:
        return Reply(503) if stuck_first in body else Reply(200)

    changes = [
        stage_change(done, 1, "lead", "sql"),
        stage_change(done, 2, "sql", "sqo"),
        stage_change(stuck, 1, "lead", "sql"),
        stage_change(stuck, 2, "sql", "sqo"),
    ]
    secret = new_secret()
    async with receivers(down_for_stuck) as (crm,):
        config = destination("crm", crm.url, "S")
        async with running_alerts(settings, config, {"S": secret}) as service:
            await produce(settings, [record(STAGE_CHANGES, c) for c in changes])
            await until(lambda: len(crm.delivered) == 2, f"{done}'s changes delivered")
            await until(lambda: service.unfinished() == 2, f"only {stuck}'s changes unfinished")
            await until(lambda: any(h.webhook_id == f"{stuck}:1" for h in crm.hits), "stuck tried")
        crm.script = always(200)
        async with running_alerts(settings, config, {"S": secret}):
            await finished(settings)
    delivered = Counter(ids(crm.delivered))
    assert delivered == {f"{done}:1": 1, f"{done}:2": 1, f"{stuck}:1": 1, f"{stuck}:2": 1}
    assert ids(crm.delivered)[-2:] == [f"{stuck}:1", f"{stuck}:2"]
    stuck_bodies = {h.body for h in crm.hits if h.webhook_id == f"{stuck}:1"}
    assert len(stuck_bodies) == 1  # the same body before and after the restart
    assert await no_dead_letters(settings)


async def test_two_replicas_share_the_work(settings: Settings) -> None:
    leads = [f"lead-{n}" for n in range(12)]
    first = [stage_change(lead, 1, "lead", "sql") for lead in leads]
    second = [stage_change(lead, 2, "sql", "sqo") for lead in leads]
    async with receivers(None) as (crm,):
        config = destination("crm", crm.url, "S")
        env = {"S": new_secret()}
        async with running_alerts(settings, config, env) as one:
            await produce(settings, [record(STAGE_CHANGES, c) for c in first])
            async with running_alerts(settings, config, env) as two:
                await produce(settings, [record(STAGE_CHANGES, c) for c in second])
                await finished(settings)
                shares = [one.partitions(), two.partitions()]
    assert all(shares)
    assert not shares[0] & shares[1]
    delivered = ids(crm.delivered)
    assert set(delivered) == {f"{lead}:{n}" for lead in leads for n in (1, 2)}
    for lead in leads:  # at least once, and a lead's sqo never before its sql
        assert delivered.index(f"{lead}:1") < delivered.index(f"{lead}:2")
