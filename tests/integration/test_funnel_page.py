"""The live funnel page in a real browser (Debian's Chromium, driven by Playwright), against
`leadq api` and a worker on the real broker: a new SQL appears live and can be looked up."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import orjson
import pytest
from playwright.async_api import async_playwright, expect

from streams.settings import Settings
from streams.tools.ordered import produce_in_order
from streams.tools.scenarios import SCENARIOS
from tests.support.api import start_api
from tests.support.kafka import produce, running_workers
from tests.support.ports import free_port
from tests.support.traffic import sim_events, sim_messages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_WAIT_S = 120.0  # .ci/run may still be installing it with apt-get
WAIT_MS = 30_000
# LEADQ_DOCS_SCREENSHOT=1 saves the screenshot for docs/api.md here (else to a temporary folder).
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "funnel.png"


def chromium() -> Path:
    """Debian's Chromium (Playwright's own download is not used), waiting a while for an
    installation in progress; the test is skipped only when there is none (and fails then
    with LEADQ_REQUIRE_CHROMIUM set, as in CI)."""
    deadline = time.monotonic() + INSTALL_WAIT_S
    while True:
        found = CHROMIUM if CHROMIUM.exists() else None
        found = found or (Path(p) if (p := shutil.which("chromium")) else None)
        if found is not None:
            return found
        if time.monotonic() > deadline or not _apt_running():
            missing = f"no Chromium binary at {CHROMIUM} or on PATH (apt-get install chromium)"
            if os.environ.get("LEADQ_REQUIRE_CHROMIUM"):  # set by .ci/run
                pytest.fail(missing)
            pytest.skip(missing)
        time.sleep(1.0)


def _apt_running() -> bool:
    """Whether a package installation is in progress (its lock is held)."""
    return any(
        (Path("/proc") / pid / "comm").read_text(errors="replace").strip() in {"apt-get", "dpkg"}
        for pid in os.listdir("/proc")
        if pid.isdigit() and (Path("/proc") / pid / "comm").exists()
    )


async def until_met(base: str, lead: str) -> None:
    """Wait until the api knows that something of the lead's next stage holds."""
    async with aiohttp.ClientSession(base) as http:
        for _ in range(WAIT_MS // 100):
            async with http.get(f"/leads/{lead}") as r:
                # "next" is null until the api has read the lead's state, which follows
                # its stage change.
                step = (await r.json())["next"] if r.status == 200 else None
                if step is not None and step["met"]:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the demo request of {lead} was not processed")


async def test_a_new_sql_appears_live_and_its_lookup_shows_what_is_next(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    browser_path = chromium()
    settings = make_settings(rules="default")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    lead = "page-new-lead"
    # An e-book (an SQL), then a demo request (one half of the SQO criteria).
    demo = next(s for s in SCENARIOS if s.name == "software-demo-sqo").for_lead(lead)
    steps = [(f"leads.{s.kind}", lead.encode(), orjson.dumps(s.value)) for s in demo.steps[:2]]
    async with running_workers(settings):
        # Some traffic first, so that the funnel has something to show.
        await produce(settings, sim_messages(sim_events(40, seed=11)))
        api = await start_api(settings.model_copy(update={"web_port": port}))
        try:
            async with aiohttp.ClientSession(base) as http:
                for _ in range(WAIT_MS // 100):
                    async with http.get("/readyz") as r:
                        if r.status == 200:
                            break
                    await asyncio.sleep(0.1)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=str(browser_path))
                page = await browser.new_page(viewport={"width": 1360, "height": 860})
                await page.goto(base)
                await expect(page.locator("#status")).to_have_attribute(
                    "data-state", "live", timeout=WAIT_MS
                )
                await produce_in_order(settings, steps)
                item = page.locator(f'#changes li[data-lead="{lead}"]')
                await expect(item).to_be_visible(timeout=WAIT_MS)
                await expect(item).to_contain_text("sql")
                await expect(item).to_contain_text("Downloaded an e-book")

                await until_met(base, lead)  # the demo request is processed too
                await page.fill("#lead-id", lead)
                await page.press("#lead-id", "Enter")
                await expect(page.locator("#lead-stage")).to_have_text("sql", timeout=WAIT_MS)
                await expect(page.locator("#next-met li")).to_have_text(["Asked for a demo"])
                missing = page.locator("#next-missing li")
                await expect(missing).to_have_count(1)
                await expect(missing).to_contain_text("One of: Asked for a demo and Had a")
                await expect(page.locator("#lead-scores")).to_contain_text("engagement")
                await expect(page.locator("#count-sql")).not_to_have_text("0")
                shot = DOCS_SCREENSHOT if os.environ.get("LEADQ_DOCS_SCREENSHOT") else None
                await page.screenshot(path=str(shot or tmp_path / "funnel.png"))
                await browser.close()
        finally:
            await api.stop()


async def test_with_a_token_the_page_asks_for_it_once_per_tab(
    make_settings: Callable[..., Settings],
) -> None:
    browser_path = chromium()
    port = free_port()
    settings = make_settings(rules="default", web_port=port)  # no workers: no data needed
    api = await start_api(settings, LEADQ_API_TOKEN="page-token-123")
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(browser_path))
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            await expect(page.locator("#status")).to_have_attribute("data-state", "token")
            await expect(page.locator("#token-dialog")).to_be_visible()
            await page.fill("#token", "page-token-123")
            await page.press("#token", "Enter")
            await expect(page.locator("#status")).to_have_attribute(
                "data-state", "live", timeout=WAIT_MS
            )
            await expect(page.locator("#count-lead")).to_have_text("0")
            await page.reload()  # the same tab: the token is kept
            await expect(page.locator("#status")).to_have_attribute(
                "data-state", "live", timeout=WAIT_MS
            )
            await expect(page.locator("#token-dialog")).to_be_hidden()
            assert await page.evaluate("sessionStorage.length") == 1
            await browser.close()
    finally:
        await api.stop()
