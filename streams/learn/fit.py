"""Fit a logistic regression on signal features and turn its coefficients into points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

# A candidate needs this many training leads with it to be fitted at all.
MIN_SUPPORT: Final = 10
MAX_POINTS: Final = 30


@dataclass(frozen=True, slots=True)
class SignalFit:
    """One candidate signal on the training leads: how often, how telling, what it is worth."""

    id: str
    leads: int
    converted: int
    lift: float | None
    coefficient: float
    points: int


def usable_columns(
    rows: Sequence[frozenset[str]], ids: Sequence[str], min_support: int = MIN_SUPPORT
) -> list[str]:
    """Candidates present in at least min_support leads (and not in all), without one whose
    leads are exactly those of an earlier candidate (the earlier, e.g. the base's, stays)."""
    total = len(rows)
    columns: dict[frozenset[int], str] = {}
    for sig_id in ids:
        having = frozenset(i for i, row in enumerate(rows) if sig_id in row)
        if min_support <= len(having) < total and having not in columns:
            columns[having] = sig_id
    return [sig_id for sig_id in ids if sig_id in columns.values()]


def _coefficients(
    rows: Sequence[frozenset[str]], labels: Sequence[bool], columns: Sequence[str], seed: int
) -> list[float]:
    """Logistic regression (balanced classes, L2) on 0/1 features; one coefficient per column."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    matrix: Any = np.array([[1.0 if c in row else 0.0 for c in columns] for row in rows])
    target: Any = np.array([1 if label else 0 for label in labels])
    model: Any = LogisticRegression(
        class_weight="balanced", C=1.0, max_iter=2000, random_state=seed
    )
    model.fit(matrix, target)
    return [float(c) for c in model.coef_[0]]


def fit_signals(
    rows: Sequence[frozenset[str]],
    labels: Sequence[bool],
    ids: Sequence[str],
    seed: int,
    max_points: int = MAX_POINTS,
) -> list[SignalFit]:
    """Each usable candidate with its coefficient and points: positive coefficients scaled so
    the largest is worth max_points, rounded; the others (and those rounding to 0) 0 points."""
    columns = usable_columns(rows, ids)
    if not columns:
        return []
    coefs = _coefficients(rows, labels, columns, seed)
    top = max(coefs)
    total, converted = len(rows), sum(labels)
    base_rate = converted / total if total else 0.0
    out: list[SignalFit] = []
    for sig_id, coef in zip(columns, coefs, strict=True):
        having = [label for row, label in zip(rows, labels, strict=True) if sig_id in row]
        hits = sum(having)
        rate = hits / len(having)
        points = round(coef / top * max_points) if coef > 0 and top > 0 else 0
        out.append(
            SignalFit(
                id=sig_id,
                leads=len(having),
                converted=hits,
                lift=rate / base_rate if base_rate else None,
                coefficient=coef,
                points=max(points, 0),
            )
        )
    return out
