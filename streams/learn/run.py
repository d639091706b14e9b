"""The learn job: read history and outcomes, split leads, fit, choose the threshold, report."""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

from streams.backtest.history import read_history
from streams.backtest.metrics import evaluate, final_stage_differences
from streams.backtest.outcomes import Outcomes, OutcomesError, read_outcomes
from streams.backtest.parallel import journeys_in_parallel
from streams.backtest.run import BacktestResult, InputSummary
from streams.core.journeys import History, group_by_lead
from streams.core.qualify import Qualifier
from streams.core.ruleset import (
    PRESETS,
    AllCondition,
    Ruleset,
    RulesetError,
    load_ruleset,
    parse_ruleset,
    preset_texts,
)
from streams.learn.features import Candidate, candidates, feature_rows, probe, split
from streams.learn.fit import SignalFit, fit_signals
from streams.learn.threshold import Threshold, choose_threshold, peak_score
from streams.learn.write import LearnedRules, render, threshold_text

MIN_TRAINING_LEADS: Final = 50
MIN_TRAINING_CONVERSIONS: Final = 5
# The sql threshold of the draft used to measure peaks: no lead reaches it.
UNREACHABLE: Final = 1e12


class LearnError(Exception):
    """Learning that cannot run on this input, in one sentence for the user."""


@dataclass(frozen=True, slots=True)
class LearnResult:
    """The learned ruleset (TOML and model), how it was learned, and the held-out backtest."""

    toml: str
    ruleset: Ruleset
    base: Ruleset
    fits: tuple[SignalFit, ...]
    from_base: frozenset[str]
    threshold: Threshold
    training: tuple[int, int]
    held_out: tuple[int, int]
    backtest: BacktestResult


def _base(name: str) -> tuple[Ruleset, dict[str, Any]]:
    try:
        ruleset = load_ruleset(name)
    except RulesetError as exc:
        raise LearnError(str(exc)) from None
    text = preset_texts()[name] if name in PRESETS else Path(name).read_text(encoding="utf-8")
    return ruleset, tomllib.loads(text)


def _inputs(events_path: Path, outcomes_path: Path) -> tuple[History, Outcomes, InputSummary]:
    for path, what in ((events_path, "events"), (outcomes_path, "outcomes")):
        if not path.is_file():
            raise LearnError(f"{what} file {path} not found")
    try:
        outcomes = read_outcomes(outcomes_path)
    except OutcomesError as exc:
        raise LearnError(str(exc)) from None
    except UnicodeDecodeError:
        raise LearnError(f"{outcomes_path} is not a UTF-8 text file") from None
    loaded = read_history(events_path)
    history = group_by_lead(loaded.events)
    if not history.by_lead:
        raise LearnError(f"{events_path} has no valid events that name or identify a lead")
    leads = history.by_lead.keys()
    summary = InputSummary(
        lines=loaded.lines,
        events=len(loaded.events),
        invalid=loaded.invalid,
        invalid_examples=tuple(loaded.examples),
        leads=len(leads),
        unattributed_events=history.unattributed_events,
        conflicting_visitors=history.conflicting_visitors,
        leads_without_outcome=len(leads - outcomes.known),
        outcomes_without_events=len(outcomes.known - leads),
    )
    return history, outcomes, summary


def _has_rule_refs(data: Any) -> bool:
    """Whether a raw condition refers to a signal or a score anywhere inside."""
    if isinstance(data, Mapping):
        return "signal" in data or "score" in data or any(_has_rule_refs(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_rule_refs(v) for v in data)
    return False


def profile_requirements(base: Ruleset, data: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """The parts of the base's sql criteria (an `all`) that depend on neither signals nor
    scores, e.g. `not a student`: (raw TOML data, parsed conditions)."""
    raw = data["stages"]["sql"]["criteria"]
    parsed = base.stages["sql"].criteria
    if not isinstance(parsed, AllCondition) or "all" not in raw:
        return [], []
    keep = [i for i, part in enumerate(raw["all"]) if not _has_rule_refs(part)]
    return [raw["all"][i] for i in keep], [parsed.all[i] for i in keep]


def _signal_tables(
    cands: Sequence[Candidate], fits: Sequence[SignalFit], data: Mapping[str, Any]
) -> list[tuple[str, Mapping[str, Any], SignalFit | None]]:
    """Learned signals (most points first), then the base's other signals, kept without points."""
    by_id = {f.id: f for f in fits}
    tables: dict[str, Mapping[str, Any]] = {}
    for c in cands:
        if c.from_base:
            tables[c.id] = data["signals"][c.id]
        else:
            pattern = {"type": c.signal.match[0].type, **c.signal.match[0].tests}
            tables[c.id] = {"description": c.signal.description, "match": [pattern]}
    learned = sorted((f for f in fits if f.points > 0), key=lambda f: (-f.points, f.id))
    out: list[tuple[str, Mapping[str, Any], SignalFit | None]] = [
        (f.id, tables[f.id], f) for f in learned
    ]
    written = {f.id for f in learned}
    out += [
        (c.id, tables[c.id], by_id.get(c.id)) for c in cands if c.from_base and c.id not in written
    ]
    return out


def learn(
    events_path: Path,
    outcomes_path: Path,
    base_name: str = "default",
    *,
    target_recall: float | Literal["base"] = 0.3,
    holdout: float = 0.3,
    seed: int = 1,
) -> LearnResult:
    """Learn signal points and an sql threshold on the training leads; backtest the learned
    ruleset and the base side by side on the held-out leads. `target_recall="base"` asks
    for the recall the base's sql stage has on the training leads."""
    began = time.perf_counter()
    base, data = _base(base_name)
    history, outcomes, summary = _inputs(events_path, outcomes_path)
    read_s = time.perf_counter() - began
    if not outcomes.positive & history.by_lead.keys():
        raise LearnError(f"no lead of {events_path} converted according to {outcomes_path}")
    train, hold = split(history.by_lead, seed, holdout)
    labels = [lead_id in outcomes.positive for lead_id in train]
    if len(train) < MIN_TRAINING_LEADS or sum(labels) < MIN_TRAINING_CONVERSIONS:
        raise LearnError(
            f"too little history to learn from: {len(train)} training leads with"
            f" {sum(labels)} conversions (need {MIN_TRAINING_LEADS} leads and"
            f" {MIN_TRAINING_CONVERSIONS} conversions)"
        )
    if not hold:
        raise LearnError("no lead is held out; raise --holdout")
    if all(labels):
        raise LearnError("every training lead converted: there is nothing to tell apart")
    cands = candidates(base)
    rows = feature_rows(probe(base, cands), history.by_lead, train)
    fits = fit_signals(rows, labels, [c.id for c in cands], seed)
    if not any(f.points > 0 for f in fits):
        raise LearnError("no signal is more common among converted leads: nothing to learn")
    keep_raw, keep = profile_requirements(base, data)
    header = [
        f"Learned by `leadq rules learn` from {events_path.name} and {outcomes_path.name}:",
        f"base ruleset {base.name} {base.version}, seed {seed}, {len(train):,} training leads"
        f" ({sum(labels):,} converted), {len(hold):,} held out for the report.",
        "Points: logistic-regression coefficients (balanced classes) of the signals a lead",
        "showed, scaled so the largest is worth 30; a negative coefficient earns none.",
        "Kept from the base: settings, lists, fit rules, caps, the sqo criteria, the",
        "disqualifiers, and the sql criteria's profile requirements.",
        "",
    ]
    rules = LearnedRules(
        name=f"{base.name}-learned",
        version="1",
        description=f"Learned from {events_path.name} on top of {base.name} {base.version}",
        header=header,
        base=data,
        signals=_signal_tables(cands, fits, data),
        threshold=UNREACHABLE,
        threshold_note="",
        keep_in_sql=keep_raw,
    )
    draft = Qualifier(parse_ruleset(render(rules), "draft"))
    # Whole-number thresholds: with decay a peak may be fractional, and N is reached iff
    # the peak's whole part is.
    peaks = [
        float(math.floor(peak_score(draft, lead_id, history.by_lead[lead_id], keep) + 1e-9))
        for lead_id in train
    ]
    if target_recall == "base":
        target_recall = base_recall(base, history, train, outcomes)
    threshold = choose_threshold(peaks, labels, target_recall)
    if threshold is None:
        most = sum(1 for p, won in zip(peaks, labels, strict=True) if won and p > 0) / sum(labels)
        raise LearnError(
            f"no engagement threshold reaches recall {target_recall:.0%} on the training leads"
            f" (at most {most:.0%}); lower --target-recall"
        )
    text = render(
        replace(
            rules,
            threshold=threshold.score,
            threshold_note=threshold_text(threshold, len(train)),
        )
    )
    learned = parse_ruleset(text, "learned ruleset")
    backtest = _held_out_backtest(learned, base, history, hold, outcomes, summary, read_s)
    converted_held = sum(1 for lead_id in hold if lead_id in outcomes.positive)
    return LearnResult(
        toml=text,
        ruleset=learned,
        base=base,
        fits=tuple(fits),
        from_base=frozenset(c.id for c in cands if c.from_base),
        threshold=threshold,
        training=(len(train), sum(labels)),
        held_out=(len(hold), converted_held),
        backtest=backtest,
    )


def base_recall(base: Ruleset, history: History, train: Sequence[str], outcomes: Outcomes) -> float:
    """The recall of the base's sql stage on the training leads, replayed as a backtest."""
    by_lead = {lead_id: history.by_lead[lead_id] for lead_id in train}
    (journeys,) = journeys_in_parallel([Qualifier(base)], by_lead, 1, None, history.end_ms)
    recall = evaluate(base.name, base.version, journeys, outcomes.positive).stages["sql"].recall
    return 0.0 if recall is None else recall


def _held_out_backtest(
    learned: Ruleset,
    base: Ruleset,
    history: History,
    hold: Sequence[str],
    outcomes: Outcomes,
    whole: InputSummary,
    read_s: float,
) -> BacktestResult:
    """`leadq backtest --rules learned --compare base`, on the held-out leads' events only."""
    began = time.perf_counter()
    by_lead = {lead_id: history.by_lead[lead_id] for lead_id in hold}
    qualifiers = [Qualifier(learned), Qualifier(base)]
    results = journeys_in_parallel(qualifiers, by_lead, 1, None, history.end_ms)
    reports = tuple(
        evaluate(r.name, r.version, journeys, outcomes.positive)
        for r, journeys in zip((learned, base), results, strict=True)
    )
    summary = InputSummary(
        lines=whole.lines,
        events=sum(len(events) for events in by_lead.values()),
        invalid=whole.invalid,
        invalid_examples=whole.invalid_examples,
        leads=len(by_lead),
        unattributed_events=whole.unattributed_events,
        conflicting_visitors=whole.conflicting_visitors,
        leads_without_outcome=len(by_lead.keys() - outcomes.known),
        outcomes_without_events=whole.outcomes_without_events,
    )
    differences = tuple(final_stage_differences(results[0], results[1]))
    replay_s = time.perf_counter() - began
    return BacktestResult(summary, reports, tuple(results), differences, read_s, replay_s)
