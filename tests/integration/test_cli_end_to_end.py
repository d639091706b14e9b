"""`leadq simulate`, `leadq run` and `leadq tail` as a user runs them, on the real broker."""

from __future__ import annotations

import asyncio
import sys

import pytest

from streams.settings import Settings
from streams.tools.simulate.traffic import generate
from streams.worker.launch import worker_env
from tests.support.kafka import running_workers

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CLI_TIMEOUT_S = 90.0


async def leadq(settings: Settings, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        *args,
        env=worker_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT_S)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_simulate_then_tail_prints_stage_changes_with_reasons(settings: Settings) -> None:
    code, out, _ = await leadq(settings, "simulate", "--leads", "60", "--seed", "3")
    assert code == 0
    assert out.strip() == f"sent {len(generate(60, 3))} events"
    async with running_workers(settings):
        code, out, err = await leadq(settings, "tail", "--from-beginning", "--count", "5")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 5
    for line in lines:
        lead, _, rest = line.partition(": ")
        assert lead.startswith("sim-")
        assert " -> " in rest
        assert "(" in rest  # the reasons, in words


async def test_run_with_an_unusable_ruleset_is_one_clear_error(settings: Settings) -> None:
    code, out, err = await leadq(settings, "run", "--rules", "no-such-preset")
    assert code == 2
    assert err.startswith("error: ")
    assert "Traceback" not in err + out
