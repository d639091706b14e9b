"""What `leadq rules learn` reports: the held-out backtest, and how the ruleset was learned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.backtest.render import percent, to_json
from streams.learn.run import LearnResult
from streams.learn.write import number


def learn_json(result: LearnResult, listed: int = 20) -> dict[str, Any]:
    """The held-out backtest's JSON (learned ruleset as A, the base under `compare`), plus
    `learn`: the split, the threshold and every fitted signal."""
    out = to_json(result.backtest, listed)
    t = result.threshold
    out["learn"] = {
        "base": {"name": result.base.name, "version": result.base.version},
        "training": {"leads": result.training[0], "converted": result.training[1]},
        "held_out": {"leads": result.held_out[0], "converted": result.held_out[1]},
        "threshold": {
            "engagement": t.score,
            "leads": t.reached,
            "converted": t.converted,
            "recall": t.recall,
            "precision": t.precision,
        },
        "signals": [
            {
                "id": f.id,
                "points": f.points,
                "coefficient": f.coefficient,
                "lift": f.lift,
                "leads": f.leads,
                "converted": f.converted,
                "from_base": f.id in result.from_base,
            }
            for f in sorted(result.fits, key=lambda f: (-f.points, f.id))
        ],
    }
    return out


def summary_lines(result: LearnResult, out: Path | None) -> list[str]:
    """A few lines before the table: what was learned, and where it went."""
    learned = sum(1 for f in result.fits if f.points > 0)
    t = result.threshold
    where = f"wrote {out}" if out is not None else "ruleset on stdout"
    return [
        f"{where}: {learned} signals with points, sql at engagement >= {number(t.score)}"
        f" (training: recall {percent(t.recall)}, precision {percent(t.precision)},"
        f" {result.training[0]:,} leads)",
        f"held-out leads ({result.held_out[0]:,}, {result.held_out[1]:,} converted):"
        f" {result.ruleset.name} vs {result.base.name}",
    ]
