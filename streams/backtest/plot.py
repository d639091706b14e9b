"""A funnel chart of a backtest (PNG, matplotlib's Agg backend): one panel per ruleset."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from streams.backtest.metrics import REPORTED_STAGES, RulesetReport
from streams.backtest.render import percent, times

_COLORS = {"all leads": "#9aa5b1", "sql": "#3e7cb1", "sqo": "#2a9d5c", "disqualified": "#c8553d"}


def _bars(report: RulesetReport) -> list[tuple[str, int, str]]:
    rows = [("all leads", report.leads, f"base rate {percent(report.base_rate)}")]
    for stage in REPORTED_STAGES:
        m = report.stages[stage]
        rows.append((stage, m.leads, f"precision {percent(m.precision)}\nlift {times(m.lift)}"))
    return rows


def plot_funnel(reports: list[RulesetReport] | tuple[RulesetReport, ...], path: Path) -> None:
    """Write a PNG: per ruleset, centred bars for all leads, sql, sqo and disqualified."""
    fig, axes = plt.subplots(
        1, len(reports), figsize=(6 * len(reports), 4.2), squeeze=False, sharex=True
    )
    widest = max(max(r.leads for r in reports), 1)
    for ax, report in zip(axes[0], reports, strict=True):
        rows = list(reversed(_bars(report)))
        for y, (label, count, note) in enumerate(rows):
            left = (widest - count) / 2
            ax.barh(y, count, left=left, color=_COLORS[label], height=0.7)
            ax.text(left + count + widest * 0.02, y, note, va="center", fontsize=9)
        ax.set_yticks(range(len(rows)), [f"{label}\n{count:,}" for label, count, _ in rows])
        ax.tick_params(axis="y", length=0)
        ax.set_xticks([])
        ax.set_xlim(0, widest * 1.45)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_title(f"{report.name} {report.version}: {report.leads:,} leads")
    fig.suptitle("leadq backtest: stages reached and their precision")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
