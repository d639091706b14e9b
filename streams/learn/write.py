"""The learned ruleset as TOML text: the base's sections kept, every learned number explained."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from streams.learn.fit import MIN_SUPPORT, SignalFit
from streams.learn.threshold import Threshold

_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")
# Top-level keys of a ruleset written before the tables, in this order.
_SETTINGS: Final = ("requalify", "cooldown", "allowed_lateness", "late_events")
SQL_DESCRIPTION: Final = "Engagement reached the learned threshold"


@dataclass(frozen=True, slots=True)
class LearnedRules:
    """Everything the TOML says: the base's data, the learned signals and the threshold."""

    name: str
    version: str
    description: str
    header: Sequence[str]
    base: Mapping[str, Any]
    # Signal id -> (table without points, its fit); learned ones first, in the order to write.
    signals: Sequence[tuple[str, Mapping[str, Any], SignalFit | None]]
    threshold: float
    threshold_note: str
    keep_in_sql: Sequence[Mapping[str, Any]]


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def value(v: Any, indent: str = "") -> str:
    """A TOML value; arrays of several inline tables one per line (as the presets write them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, Mapping):
        if not v:
            return "{}"
        inner = ", ".join(f"{_key(k)} = {value(x, indent)}" for k, x in v.items())
        return "{ " + inner + " }"
    if isinstance(v, list):
        if sum(isinstance(x, Mapping) for x in v) > 1:
            deeper = indent + "  "
            lines = "".join(f"{deeper}{value(x, deeper)},\n" for x in v)
            return "[\n" + lines + indent + "]"
        return "[" + ", ".join(value(x, indent) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _table(body: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {value(v)}" for k, v in body.items()]


def number(x: float) -> str:
    """A number as a person writes it: 45, 2.5."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def signal_note(fit: SignalFit | None) -> str:
    """The comment above a signal: where its points came from, or why it has none."""
    if fit is None:
        return (
            f"no points: in fewer than {MIN_SUPPORT} training leads,"
            " or in exactly the same leads as another signal"
        )
    lift = "-" if fit.lift is None else f"{fit.lift:.1f}"
    seen = f"lift {lift} on {fit.leads:,} training leads (coefficient {fit.coefficient:.2f})"
    return seen if fit.points > 0 else f"no points: {seen}"


def _signal(sig_id: str, table: Mapping[str, Any], fit: SignalFit | None) -> list[str]:
    lines = [f"# {signal_note(fit)}", f"[signals.{_key(sig_id)}]"]
    body: dict[str, Any] = {"description": table["description"]}
    if fit is not None and fit.points > 0:
        body["points"] = fit.points
        body["max_points"] = fit.points
    body["match"] = table["match"]
    return [*lines, *_table(body), ""]


def _array(name: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    for item in items:
        out += [f"[[{name}]]", *_table(item), ""]
    return out


def sql_criteria(threshold: float, keep: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The learned sql criteria: the threshold, and the base's profile requirements kept."""
    score = {"score": "engagement", "gte": threshold}
    return {"all": [score, *keep]} if keep else score


def render(rules: LearnedRules) -> str:
    """The whole ruleset file."""
    base = rules.base
    out = [*(f"# {line}".rstrip() for line in rules.header)]
    out += [
        f"name = {value(rules.name)}",
        f"version = {value(rules.version)}",
        f"description = {value(rules.description)}",
    ]
    out += [f"{k} = {value(base[k])}" for k in _SETTINGS if k in base]
    out.append("")
    for section in ("lists", "engagement"):
        if section in base:
            out += [f"[{section}]", *_table(base[section]), ""]
    out += [
        "# Learned points count once per signal (max_points = points): a lead's engagement is",
        "# the sum of the points of the signals it showed.",
    ]
    for sig_id, table, fit in rules.signals:
        out += _signal(sig_id, table, fit)
    out += _array("fit", base.get("fit", []))
    out += _array("cap", base.get("cap", []))
    sqo = base["stages"]["sqo"]
    out += [
        f"# {rules.threshold_note}",
        "[stages.sql]",
        f"description = {value(SQL_DESCRIPTION)}",
        f"criteria = {value(sql_criteria(rules.threshold, rules.keep_in_sql))}",
        "",
        "[stages.sqo]",
        *_table(sqo),
        "",
    ]
    out += _array("disqualify", base.get("disqualify", []))
    if "demotion" in base:
        out += ["[demotion]", *_table(base["demotion"]), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def threshold_text(threshold: Threshold, leads: int) -> str:
    """The comment above [stages.sql]."""
    return (
        f"SQL at engagement >= {number(threshold.score)}: recall {threshold.recall:.1%},"
        f" precision {threshold.precision:.1%} on {leads:,} training leads"
        f" ({threshold.reached:,} reach it, {threshold.converted:,} of them converted)"
    )
