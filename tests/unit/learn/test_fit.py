"""The fit: usable columns, coefficients to points, lift."""

from __future__ import annotations

import random

from streams.learn.fit import fit_signals, usable_columns


def rows_and_labels(seed: int = 1) -> tuple[list[frozenset[str]], list[bool]]:
    """Leads that win more often with `strong`, a bit more with `weak`; `noise` says nothing
    and `bad` makes winning rarer."""
    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(2000):
        row = {name for name in ("strong", "weak", "noise", "bad") if rng.random() < 0.3}
        chance = 0.05 + 0.5 * ("strong" in row) + 0.1 * ("weak" in row) - 0.04 * ("bad" in row)
        rows.append(frozenset(row))
        labels.append(rng.random() < chance)
    return rows, labels


def test_points_follow_the_coefficients() -> None:
    rows, labels = rows_and_labels()
    fits = {f.id: f for f in fit_signals(rows, labels, ["strong", "weak", "noise", "bad"], 1)}
    assert fits["strong"].points == 30
    assert 0 < fits["weak"].points < fits["strong"].points
    assert fits["bad"].points == 0
    assert fits["bad"].coefficient < 0
    assert fits["noise"].points <= 3
    assert fits["strong"].lift is not None
    assert fits["strong"].lift > 2
    assert fits["strong"].leads == sum(1 for row in rows if "strong" in row)


def test_deterministic() -> None:
    rows, labels = rows_and_labels()
    assert fit_signals(rows, labels, ["strong", "weak"], 3) == fit_signals(
        rows, labels, ["strong", "weak"], 3
    )


def test_rare_constant_and_duplicate_columns_are_left_out() -> None:
    rows = [frozenset({"a", "a_twin", "all"} if i % 2 else {"all"}) for i in range(100)]
    rows[0] = rows[0] | {"rare"}
    assert usable_columns(rows, ["a", "a_twin", "all", "rare"]) == ["a"]
