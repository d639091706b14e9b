"""Read the known outcome of each lead from a CSV file (`lead_id,outcome`, header optional)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Final

POSITIVE: Final = frozenset({"won", "converted"})


class OutcomesError(ValueError):
    """An outcomes file that cannot be read, in one sentence."""


@dataclass(frozen=True, slots=True)
class Outcomes:
    """The leads named in an outcomes file and those among them that converted."""

    known: frozenset[str]
    positive: frozenset[str]


def read_outcomes(path: Path) -> Outcomes:
    """Parse `lead_id,outcome` rows; `won`/`converted` (any case) is positive, all else not.

    A first row whose first cell is `lead_id` is a header; blank rows are skipped; a lead
    named twice takes its last outcome.
    """
    outcome: dict[str, bool] = {}
    with path.open(newline="", encoding="utf-8-sig") as file:
        for number, row in enumerate(csv.reader(file), 1):
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if number == 1 and cells[0].lower() == "lead_id":
                continue
            if len(cells) < 2 or not cells[0]:
                raise OutcomesError(f"{path} line {number}: expected `lead_id,outcome`")
            outcome[cells[0]] = cells[1].lower() in POSITIVE
    return Outcomes(
        known=frozenset(outcome), positive=frozenset(k for k, won in outcome.items() if won)
    )
