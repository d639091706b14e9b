"""The api's HTTP routes (FastAPI): lookups, the funnel, /events, health and the page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from streams.api.feed import Feed, Subscription
from streams.api.metrics import ApiMetrics, RequestMetrics
from streams.api.models import Error, Funnel, LeadLookup, RecentChanges, Status
from streams.api.replica import MAX_RECENT, Replica, lookup
from streams.api.security import UNAUTHORIZED, bearer_check
from streams.core.ruleset import Ruleset

RETRY_AFTER_S: Final = "5"
PING_S: Final = 15
LEAD_ID_MAX: Final = 128  # as the contract's lead_id

Readiness = Callable[[], tuple[bool, str | None]]


def page() -> str:
    """The live funnel page (one static file in the package)."""
    return resources.files("streams.api").joinpath("static", "index.html").read_text("utf-8")


def create_app(
    replica: Replica,
    rules: Ruleset,
    feed: Feed,
    metrics: ApiMetrics,
    readiness: Readiness,
    token: str | None = None,
) -> FastAPI:
    """The api over a replica that something else keeps up to date; with a token, every
    route but /healthz, /readyz and the page's HTML needs `Authorization: Bearer <token>`."""
    app = FastAPI(
        title="leadq api",
        version="1.1",
        summary="Lead lookups, the funnel and stage changes as they happen.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    unauthorized: dict[int | str, dict[str, Any]] = (
        {401: {"model": Error, "description": UNAUTHORIZED}} if token else {}
    )
    guarded = APIRouter(
        dependencies=[Depends(bearer_check(token))] if token else [], responses=unauthorized
    )
    invalid: dict[int | str, dict[str, Any]] = {422: {"model": Error, "description": "invalid"}}

    @app.get("/healthz", response_model=Status, tags=["health"])
    async def healthz() -> Status:
        """200 while the api runs."""
        return Status(status="ok")

    @app.get(
        "/readyz",
        response_model=Status,
        tags=["health"],
        responses={503: {"model": Status, "description": "not caught up yet"}},
    )
    async def readyz() -> Any:
        """200 once the api has read what its topics held when it started and is not too
        far behind them; 503 with Retry-After before."""
        ready, reason = readiness()
        if ready:
            return Status(status="ready")
        body = Status(status="not ready", reason=reason).model_dump()
        return JSONResponse(body, status_code=503, headers={"Retry-After": RETRY_AFTER_S})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        """The live funnel page (static: the data comes from the guarded routes)."""
        return HTMLResponse(page())

    @guarded.get(
        "/leads/{lead_id:path}",
        response_model=LeadLookup,
        responses={404: {"model": Error, "description": "unknown lead"}, **invalid},
        tags=["leads"],
    )
    async def get_lead(
        lead_id: Annotated[str, Path(min_length=1, max_length=LEAD_ID_MAX)],
    ) -> Any:
        """A lead's stage, scores, last 20 stage changes (newest first) and which criteria
        of its next stage hold and which are missing."""
        found = lookup(replica, rules, lead_id)
        if found is None:
            return JSONResponse({"error": "unknown lead"}, status_code=404)
        return found

    @guarded.get("/funnel", response_model=Funnel, tags=["funnel"])
    async def get_funnel() -> Funnel:
        """How many leads are at each stage now (and how many reached sql and sqo)."""
        return Funnel.model_validate(
            {
                "stages": replica.stage_counts(),
                "reached": replica.reached_counts(),
                "as_of": datetime.now(UTC),
            }
        )

    @guarded.get("/changes", response_model=RecentChanges, tags=["funnel"], responses=invalid)
    async def get_changes(
        limit: Annotated[int, Query(ge=1, le=MAX_RECENT)] = 20,
    ) -> RecentChanges:
        """The latest stage changes of all leads, newest first."""
        return RecentChanges(changes=replica.recent_changes(limit))

    @guarded.get(
        "/events",
        tags=["funnel"],
        response_class=EventSourceResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "SSE"}},
    )
    async def events(request: Request) -> EventSourceResponse:
        """Server-sent events, one `stage_change` per stage change (data: the record as on
        leads.stage-changes, id: its change_id), from the moment of connecting."""
        subscription = feed.subscribe()  # before the answer starts: no change is missed
        return EventSourceResponse(
            _stream(subscription), ping=PING_S, background=BackgroundTask(subscription.close)
        )

    @guarded.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "metrics"}},
    )
    async def get_metrics() -> Response:
        """The api's metrics in the Prometheus text format."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @guarded.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        """This api's OpenAPI document."""
        return JSONResponse(app.openapi())

    app.include_router(guarded)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app


async def _stream(subscription: Subscription) -> AsyncIterator[ServerSentEvent]:
    try:
        while (item := await subscription.next()) is not None:
            yield ServerSentEvent(data=item.data, event="stage_change", id=item.change_id)
    finally:
        subscription.close()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    ]
    return JSONResponse({"error": "invalid request: " + "; ".join(problems)}, status_code=422)
