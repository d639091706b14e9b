"""The api's routes on a real server over a replica the core filled: answers, errors,
server-sent events, metrics, and property-based requests from its own OpenAPI document."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import hypothesis
import orjson
import pytest
import schemathesis
from prometheus_client.parser import text_string_to_metric_families

from schemas.outputs import StageChange
from streams.api.feed import Item
from streams.core.ruleset import load_ruleset
from streams.core.state import LeadState
from streams.worker.codec import encode_state
from tests.support.api import ServedApi, scenario_replica, serving, serving_in_thread, sse_events

RULES = load_ruleset("default")
READ_TIMEOUT_S = 10.0
GUARDED = (
    "/leads/software-demo-sqo",
    "/funnel",
    "/changes",
    "/events",
    "/metrics",
    "/openapi.json",
)


def served() -> ServedApi:
    api = ServedApi(scenario_replica(RULES))
    odd = "team/a b?c#d%é"  # a lead id that needs escaping in a URL
    api.replica.apply_state(odd.encode(), encode_state(LeadState(key=odd)))
    return api


@pytest.mark.asyncio
async def test_every_route_answers_from_the_replica() -> None:
    api = served()
    async with serving(api.app(RULES)) as base, aiohttp.ClientSession(base) as http:
        async with http.get("/healthz") as r:
            assert (r.status, await r.json()) == (200, {"status": "ok", "reason": None})
        async with http.get("/readyz") as r:
            assert r.status == 200
        async with http.get("/leads/software-demo-sqo") as r:
            assert r.status == 200
            lead = await r.json()
        assert (lead["stage"], lead["sequence"], lead["next"]) == ("sqo", 2, None)
        assert [c["to_stage"] for c in lead["changes"]] == ["sqo", "sql"]
        for change in lead["changes"]:
            StageChange.model_validate(change)
        async with http.get("/leads/" + quote("team/a b?c#d%é", safe="")) as r:
            assert r.status == 200
            assert (await r.json())["lead_id"] == "team/a b?c#d%é"
        async with http.get("/leads/nobody") as r:
            assert (r.status, await r.json()) == (404, {"error": "unknown lead"})
        async with http.get("/funnel") as r:
            funnel = await r.json()
        assert funnel["stages"] == {"lead": 2, "sql": 1, "sqo": 1, "disqualified": 1}
        assert funnel["reached"] == {"sql": 3, "sqo": 1}
        assert funnel["as_of"].endswith("Z")
        async with http.get("/changes", params={"limit": "2"}) as r:
            assert len((await r.json())["changes"]) == 2
        async with http.get("/changes", params={"limit": "0"}) as r:
            assert r.status == 422
            assert (await r.json())["error"].startswith("invalid request: query.limit")
        async with http.get("/") as r:
            assert r.status == 200
            assert "live funnel" in await r.text()
        async with http.get("/openapi.json") as r:
            paths = set((await r.json())["paths"])
        assert {"/leads/{lead_id}", "/funnel", "/events", "/healthz", "/readyz"} <= paths
        async with http.get("/metrics") as r:
            text = await r.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    lookups = (("method", "GET"), ("route", "/leads/{lead_id}"))
    assert samples[("leadq_api_requests_total", (*lookups, ("status", "200")))] == 2
    assert samples[("leadq_api_requests_total", (*lookups, ("status", "404")))] == 1


@pytest.mark.asyncio
async def test_readyz_says_why_it_is_not_ready_with_retry_after() -> None:
    api = served()
    api.ready = (False, "catching up: 12 records to read")
    async with (
        serving(api.app(RULES)) as base,
        aiohttp.ClientSession(base) as http,
        http.get("/readyz") as r,
    ):
        assert r.status == 503
        assert r.headers["Retry-After"] == "5"
        assert await r.json() == {
            "status": "not ready",
            "reason": "catching up: 12 records to read",
        }


@pytest.mark.asyncio
async def test_events_streams_each_published_stage_change() -> None:
    api = served()
    [change] = api.replica.recent_changes(1)
    data = change.model_dump_json()
    async with (
        serving(api.app(RULES)) as base,
        aiohttp.ClientSession(base) as http,
        http.get("/events") as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        assert api.feed.clients == 1  # subscribed before the answer began
        api.feed.publish(Item(change.change_id, data))
        api.feed.publish(Item("other:1", '{"lead_id": "other"}'))
        text = ""
        while len(sse_events(text)) < 2:
            chunk = await asyncio.wait_for(r.content.readany(), READ_TIMEOUT_S)
            assert chunk, "the stream ended"
            text += chunk.decode()
    first, second = sse_events(text)
    assert first == {"event": "stage_change", "id": change.change_id, "data": data}
    assert second["id"] == "other:1"


@pytest.mark.asyncio
async def test_with_a_token_every_route_but_health_and_the_page_needs_it() -> None:
    token = "s3cret-Token-42"
    api = served()
    async with serving(api.app(RULES, token=token)) as base, aiohttp.ClientSession(base) as http:
        for path in ("/healthz", "/readyz", "/"):
            async with http.get(path) as r:
                assert r.status == 200, path
        for path in GUARDED:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
                async with http.get(path, headers=headers) as r:
                    body = await r.text()
                    assert r.status == 401, (path, headers)
                    assert r.headers["WWW-Authenticate"] == "Bearer"
                    assert orjson.loads(body) == {"error": "missing or wrong bearer token"}
                    assert token not in body
            right = {"Authorization": f"Bearer {token}"}
            async with http.get(
                path, headers=right, timeout=aiohttp.ClientTimeout(sock_read=2)
            ) as r:
                assert r.status == 200, path
        async with http.get("/openapi.json", headers={"Authorization": f"bearer {token}"}) as r:
            document = await r.json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


# -- property-based requests from the api's own OpenAPI document ---------------------------

# The document as the api serves it (test_every_route_answers_from_the_replica checks that
# /openapi.json is this); the requests go to a real server (api_url).
schema = schemathesis.openapi.from_dict(served().app(RULES).openapi()).exclude(
    path="/events"  # a stream that does not end
)


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with serving_in_thread(served().app(RULES)) as base:
        yield base


@schema.parametrize()
@hypothesis.settings(max_examples=60, deadline=None)
def test_any_request_the_document_allows_or_not_is_answered_without_a_server_error(
    case: schemathesis.Case[Any], api_url: str
) -> None:
    case.call_and_validate(base_url=api_url, timeout=READ_TIMEOUT_S)
