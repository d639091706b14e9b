"""`leadq api` as a user starts it (no broker needed): where it may listen, the token, and
one-line errors."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streams.settings import Settings
from tests.support.api import start_api
from tests.support.ports import free_port

pytestmark = pytest.mark.asyncio

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once
TOKEN = "Zq8-very-secret-token-7Wx"


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": UNREACHABLE,
        "data_dir": tmp_path,
        "web_port": free_port(),
    }
    return Settings(**(values | overrides))


def assert_one_line_error(lines: list[str], words: str) -> None:
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    assert words in lines[0]


async def test_a_non_loopback_address_without_a_token_is_refused(tmp_path: Path) -> None:
    api = await start_api(settings(tmp_path, web_host="0.0.0.0"), wait=False)
    assert await api.finished() == 2
    assert_one_line_error(api.lines, "not a loopback address")
    assert "LEADQ_API_TOKEN" in api.lines[0]


async def test_insecure_mode_serves_a_non_loopback_address_without_a_token(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path, web_host="0.0.0.0")
    api = await start_api(s, LEADQ_API_INSECURE="1")
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{s.web_port}") as http:
            async with http.get("/funnel") as r:
                assert r.status == 200
            async with http.get("/readyz") as r:  # Kafka cannot be reached
                assert r.status == 503
                assert r.headers["Retry-After"] == "5"
                reason = (await r.json())["reason"]
        assert reason.startswith(("starting", "cannot read from Kafka at 127.0.0.1:1"))
    finally:
        assert await api.stop() == 0


async def test_with_a_token_it_is_needed_and_never_shown(tmp_path: Path) -> None:
    s = settings(tmp_path, web_host="0.0.0.0")
    api = await start_api(s, "--loglevel", "debug", LEADQ_API_TOKEN=TOKEN)
    bodies: list[str] = []
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{s.web_port}") as http:
            for path in ("/healthz", "/readyz"):
                async with http.get(path) as r:
                    assert r.status in (200, 503), path
            for headers in (
                {},
                {"Authorization": f"Bearer {TOKEN[:-1]}"},
                {"Authorization": TOKEN},
            ):
                async with http.get("/funnel", headers=headers) as r:
                    assert r.status == 401
                    bodies.append(await r.text())
            async with http.get("/funnel", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 200
            async with http.get("/leads/x?y=1", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 404
                bodies.append(await r.text())
    finally:
        assert await api.stop() == 0
    assert any('"GET /funnel HTTP/1.1" 401' in line for line in api.lines)  # logs were on
    for text in [*api.lines, *bodies]:
        assert TOKEN[:8] not in text


async def test_a_busy_port_and_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        api = await start_api(settings(tmp_path, web_port=port), wait=False)
        assert await api.finished() == 1
    assert_one_line_error(api.lines, f"cannot listen on 127.0.0.1:{port}")
    api = await start_api(settings(tmp_path), wait=False, LEADQ_API_MAX_LAG="-1")
    assert await api.finished() == 2
    assert_one_line_error(api.lines, "invalid setting LEADQ_API_MAX_LAG")
    api = await start_api(settings(tmp_path), "--rules", "no-such-preset", wait=False)
    assert await api.finished() == 2
    assert_one_line_error(api.lines, "no such preset or file")
