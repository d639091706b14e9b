"""A preset with a short SLA instead of its own, for the demo and the fault scenarios (pure)."""

from __future__ import annotations

import re

from streams.core.ruleset import parse_ruleset, preset_texts

_HEADER = re.compile(r"^\s*\[")
_SLA_HEADER = re.compile(r"^\s*\[\s*sla\s*[.\]]")


def without_sla(text: str) -> str:
    """A ruleset's TOML text without its `[sla.*]` tables and the comment lines just above
    them (which describe the SLA they precede)."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if _SLA_HEADER.match(line):
            skipping = True
            while kept and kept[-1].lstrip().startswith("#"):
                kept.pop()
            continue
        if skipping and _HEADER.match(line):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept).rstrip() + "\n"


def with_sla(preset: str, within: str, warn_before: str | None = None) -> str:
    """The TOML text of preset `preset` whose only SLA is `[sla.sql]` with `within` and
    `warn_before`, wall-clock time (no business hours), worked by a call or a meeting.
    Validated: a ValueError (RulesetError) for durations that make no valid SLA."""
    lines = [
        "",
        f"# The SQL service level shortened to {within}, every hour counting (no business",
        "# hours), so that warnings and breaches come within seconds.",
        "[sla.sql]",
        f'within = "{within}"',
    ]
    if warn_before is not None:
        lines.append(f'warn_before = "{warn_before}"')
    lines.append('worked_by = ["call_completed", "meeting_held"]')
    text = without_sla(preset_texts()[preset]) + "\n".join(lines) + "\n"
    parse_ruleset(text, f"preset {preset} with [sla.sql] within {within}")
    return text
