"""Collects each fault scenario's figures; prints the table and writes reports/reliability.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.harness import FULL, Figures

RESULTS: list[Figures] = []


@pytest.fixture
def record_figures() -> list[Figures]:
    """Append a scenario's figures here."""
    return RESULTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    cols = [
        "scenario",
        "events",
        "faults",
        "expected",
        "emitted",
        "lost",
        "wrong",
        "duplicates",
        "recover_s",
    ]
    rows = [[str(getattr(f, c)) for c in cols] for f in RESULTS]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    terminalreporter.write_sep("=", f"reliability figures ({'full' if FULL else 'short'} run)")
    terminalreporter.write_line(line)
    for r in rows:
        terminalreporter.write_line("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    for f in RESULTS:
        for note in f.notes[:10]:
            terminalreporter.write_line(f"  {f.scenario}: {note}")
    out = Path(__file__).resolve().parents[2] / "reports" / "reliability.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([f.row() for f in RESULTS], indent=2) + "\n")
    terminalreporter.write_line(f"written to {out}")
