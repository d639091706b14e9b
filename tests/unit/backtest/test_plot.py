"""The backtest chart: a funnel of all leads, sql and sqo with precision, lift, recall and
median time to stage; disqualified drawn apart from the funnel, as a check."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from streams.backtest.metrics import RulesetReport
from streams.backtest.plot import funnel_figure, plot_funnel
from streams.backtest.render import duration, percent, times
from streams.backtest.run import run_backtest
from streams.tools.simulate.output import write_history, write_outcomes
from streams.tools.simulate.traffic import generate, simulated_outcomes


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[RulesetReport, ...]:
    folder = tmp_path_factory.mktemp("plot")
    events, outcomes = folder / "events.jsonl", folder / "outcomes.csv"
    write_history(generate(150, 4), events)
    write_outcomes(simulated_outcomes(150, 4), outcomes)
    result = run_backtest(events, outcomes, ["default", "startup"], workers=1)
    for report in result.reports:
        assert report.stages["disqualified"].leads > 0, "the history needs disqualified leads"
    return result.reports


def texts(ax: Axes) -> list[str]:
    """Every text the panel shows: title, tick labels, annotations."""
    found = [ax.get_title(), *(t.get_text() for t in ax.get_yticklabels())]
    found += [t.get_text() for t in ax.get_xticklabels()]
    found += [t.get_text() for t in ax.findobj(Text)]
    return [t for t in found if t]


def panels(fig: Figure) -> tuple[list[Axes], list[Axes]]:
    """(funnel panels, disqualified panels), told apart by their titles."""
    axes = [ax for ax in fig.axes if ax.get_title()]
    disqualified = [ax for ax in axes if "disqualified" in ax.get_title()]
    return [ax for ax in axes if ax not in disqualified], disqualified


def test_disqualified_is_drawn_apart_from_the_funnel(reports: tuple[RulesetReport, ...]) -> None:
    fig = funnel_figure(reports)
    funnels, disqualified = panels(fig)
    assert len(funnels) == len(disqualified) == len(reports)
    for ax, report in zip(funnels, reports, strict=True):
        steps = [t.get_text().split("\n")[0] for t in ax.get_yticklabels()]
        assert sorted(steps) == ["all leads", "sql", "sqo"]
        assert report.name in ax.get_title()
        assert not any("disqualified" in t for t in texts(ax))


def test_the_disqualified_panel_reads_as_a_check(reports: tuple[RulesetReport, ...]) -> None:
    fig = funnel_figure(reports)
    _, disqualified = panels(fig)
    for ax, report in zip(disqualified, reports, strict=True):
        m = report.stages["disqualified"]
        shown = "\n".join(texts(ax))
        assert report.name in ax.get_title()
        assert f"{m.leads:,} leads" in shown
        assert f"{percent(m.leads / report.leads)} of all leads" in shown
        assert f"{m.converted:,} of them converted ({percent(m.precision)})" in shown
        assert "lower is better" in shown
        assert "precision" not in shown
        assert "lift" not in shown


def test_sql_and_sqo_show_precision_lift_recall_and_median_time(
    reports: tuple[RulesetReport, ...],
) -> None:
    fig = funnel_figure(reports)
    funnels, _ = panels(fig)
    for ax, report in zip(funnels, reports, strict=True):
        shown = texts(ax)
        assert any(f"base rate {percent(report.base_rate)}" in t for t in shown)
        for stage in ("sql", "sqo"):
            m = report.stages[stage]
            expected = [
                f"precision {percent(m.precision)}",
                f"lift {times(m.lift)}",
                f"recall {percent(m.recall)}",
                f"median time {duration(m.median_time_to_stage_s)}",
            ]
            notes = [t for t in shown if all(e in t for e in expected)]
            assert len(notes) >= 1, (stage, expected, shown)


def test_the_chart_is_written_as_a_png(reports: tuple[RulesetReport, ...], tmp_path: Path) -> None:
    out = tmp_path / "funnel.png"
    plot_funnel(reports, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
