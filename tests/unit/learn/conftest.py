"""Simulated histories and outcomes for the learner's tests, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.learn.run import LearnResult, learn
from streams.tools.simulate.output import write_history, write_outcomes
from streams.tools.simulate.traffic import generate, simulated_outcomes


def simulated(directory: Path, leads: int, seed: int) -> tuple[Path, Path]:
    """`leadq simulate --leads N --seed S --events-out ... --outcomes-out ...` as files."""
    events, outcomes = directory / f"h{leads}-{seed}.jsonl", directory / f"o{leads}-{seed}.csv"
    write_history(generate(leads, seed), events)
    write_outcomes(simulated_outcomes(leads, seed), outcomes)
    return events, outcomes


@pytest.fixture(scope="session")
def sim_3000(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return simulated(tmp_path_factory.mktemp("sim3000"), 3000, 1)


@pytest.fixture(scope="session")
def sim_400(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return simulated(tmp_path_factory.mktemp("sim400"), 400, 2)


@pytest.fixture(scope="session")
def learned_3000(sim_3000: tuple[Path, Path]) -> LearnResult:
    return learn(*sim_3000, "default", target_recall=0.3, holdout=0.3, seed=1)


@pytest.fixture(scope="session")
def learned_3000_wide(sim_3000: tuple[Path, Path]) -> LearnResult:
    """Asked for the recall the `default` preset's sql stage has on the training leads."""
    return learn(*sim_3000, "default", target_recall="base", holdout=0.3, seed=1)
