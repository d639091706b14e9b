"""`leadq api`: serve lead lookups, the funnel, server-sent stage changes and the live page."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from streams.api.settings import ApiSettings

LogLevel = Literal["crit", "error", "warn", "info", "debug"]
LEVELS = {"crit": "critical", "error": "error", "warn": "warning", "info": "info", "debug": "debug"}


def api(
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules",
            help="Ruleset `next` is explained with (preset or TOML file, as the workers');"
            " env LEADQ_RULES.",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on; env LEADQ_WEB_HOST (127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port to listen on; env LEADQ_WEB_PORT (6066)."),
    ] = None,
    loglevel: Annotated[LogLevel, typer.Option(help="Log level.")] = "warn",
) -> None:
    """Serve lead lookups, the funnel, live stage changes and the funnel page over HTTP
    (any number of replicas, each reading the topics on its own)."""
    from streams.api.security import binding_problem
    from streams.api.server import ApiServer, listen
    from streams.api.settings import DEFAULT_PORT
    from streams.cli import FAILED, fail, load_settings
    from streams.core.ruleset import RulesetError, load_ruleset

    settings = load_settings(rules=rules, web_host=host, web_port=port)
    api_settings = load_api_settings()
    problem = binding_problem(
        settings.web_host, api_settings.token is not None, api_settings.insecure
    )
    if problem is not None:
        raise fail(problem)
    try:
        ruleset = load_ruleset(settings.rules)
    except RulesetError as exc:
        raise fail(str(exc)) from None
    bind_port = settings.web_port if settings.web_port is not None else DEFAULT_PORT
    try:
        sock = listen(settings.web_host, bind_port)
    except OSError as exc:
        raise fail(
            f"cannot listen on {settings.web_host}:{bind_port}: {exc.strerror or exc}", FAILED
        ) from None
    logging.basicConfig(
        level=LEVELS[loglevel].upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the reader says what fails
    server = ApiServer(settings, api_settings, ruleset, sock, log_level=LEVELS[loglevel])

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop_soon)
        await server.start()
        typer.echo(f"leadq api serving on {server.address}; the funnel page: {server.url}/")
        await server.wait()

    asyncio.run(serve())


def load_api_settings() -> ApiSettings:
    """The api's settings from the environment, or a clear error (exit code 2)."""
    from pydantic import ValidationError

    from streams.api.settings import ApiSettings
    from streams.cli import fail

    try:
        return ApiSettings()
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise fail(f"invalid setting {first['loc'][0]}: {first['msg']}") from None
