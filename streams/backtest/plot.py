"""The backtest chart (PNG, matplotlib's Agg backend), per ruleset: a funnel of all leads,
sql and sqo with precision, lift, recall and median time to stage; and, apart from the
funnel (disqualified leads are not a subset of sqo), a check on the disqualified leads:
their share of all leads and how many of them converted anyway (lower is better)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from streams.backtest.metrics import RulesetReport
from streams.backtest.render import duration, percent, times

FUNNEL: tuple[str, ...] = ("all leads", "sql", "sqo")
_COLORS = {"all leads": "#9aa5b1", "sql": "#3e7cb1", "sqo": "#2a9d5c"}
_ALL_LEADS, _DISQUALIFIED, _CONVERTED_ANYWAY = "#e6e9ec", "#e8a28f", "#9b2c1a"


def _steps(report: RulesetReport) -> list[tuple[str, int, str]]:
    """(label, leads, note) for each funnel step, widest first."""
    rows = [("all leads", report.leads, f"base rate {percent(report.base_rate)}")]
    for stage in ("sql", "sqo"):
        m = report.stages[stage]
        note = (
            f"precision {percent(m.precision)} · lift {times(m.lift)}\n"
            f"recall {percent(m.recall)} · median time {duration(m.median_time_to_stage_s)}"
        )
        rows.append((stage, m.leads, note))
    return rows


def _bare(ax: Axes) -> None:
    ax.tick_params(axis="y", length=0)
    ax.set_xticks([])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)


def _funnel(ax: Axes, report: RulesetReport, widest: int) -> None:
    rows = list(reversed(_steps(report)))
    for y, (label, count, note) in enumerate(rows):
        left = (widest - count) / 2
        ax.barh(y, count, left=left, color=_COLORS[label], height=0.7)
        ax.text(left + count + widest * 0.02, y, note, va="center", fontsize=8.5)
    ax.set_yticks(range(len(rows)), [f"{label}\n{count:,}" for label, count, _ in rows])
    ax.set_xlim(0, widest * 1.75)
    _bare(ax)
    ax.set_title(f"{report.name} {report.version}: {report.leads:,} leads", fontsize=11)


def _disqualified(ax: Axes, report: RulesetReport) -> None:
    """A column of all leads; the share disqualified in red, those who converted anyway in
    dark red (the part that should be empty)."""
    m = report.stages["disqualified"]
    share = m.leads / report.leads if report.leads else 0.0
    converted_share = m.converted / report.leads if report.leads else 0.0
    ax.bar(0, 1.0, color=_ALL_LEADS, width=0.5)
    ax.bar(0, share, color=_DISQUALIFIED, width=0.5)
    ax.bar(0, converted_share, color=_CONVERTED_ANYWAY, width=0.5)
    ax.text(0, 0.97, "all leads", ha="center", va="top", fontsize=8, color="#6b7682")
    ax.set_ylim(0, 1)
    ax.set_xlim(-0.6, 0.6)
    ax.set_yticks([])
    _bare(ax)
    ax.text(
        0,
        -0.04,
        f"{m.leads:,} leads, {percent(share)} of all leads\n"
        f"{m.converted:,} of them converted ({percent(m.precision)})\n"
        "a check: lower is better",
        transform=ax.get_xaxis_transform(),
        ha="center",
        va="top",
        fontsize=8.5,
    )
    ax.set_title(f"{report.name}: disqualified", fontsize=10, color=_CONVERTED_ANYWAY)


def funnel_figure(reports: Sequence[RulesetReport]) -> Figure:
    """The chart as a figure: per ruleset a funnel panel and a disqualified panel beside it."""
    fig, axes = plt.subplots(
        1,
        2 * len(reports),
        figsize=(9 * len(reports), 4.6),
        squeeze=False,
        gridspec_kw={"width_ratios": [3, 1.2] * len(reports)},
    )
    widest = max(max(r.leads for r in reports), 1)
    for i, report in enumerate(reports):
        _funnel(axes[0][2 * i], report, widest)
        _disqualified(axes[0][2 * i + 1], report)
    fig.suptitle("leadq backtest: stages reached, and the leads disqualified")
    fig.tight_layout()
    return fig


def plot_funnel(reports: Sequence[RulesetReport], path: Path) -> None:
    """Write the chart as a PNG."""
    fig = funnel_figure(reports)
    try:
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)
