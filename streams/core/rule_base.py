"""Building blocks shared by ruleset models: the strict base model and durations."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration(value: Any) -> Any:
    """'7d', '24h', '30m', '90s', '2w' or '500ms' -> milliseconds (other values pass through)."""
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found is None:
            raise ValueError(f"{value!r} is not a duration; write e.g. '7d', '24h', '30m' or '90s'")
        return round(float(found.group(1)) * _UNIT_MS[found.group(2)])
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("a duration is a string such as '7d', '24h', '30m' or '90s'")
    return value


def format_duration(ms: int) -> str:
    """Milliseconds in the largest unit that divides them exactly: 14_400_000 -> '4h'."""
    for unit in ("w", "d", "h", "m", "s"):
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


# A duration in milliseconds, written in TOML as "7d", "24h", "30m", "90s" ...
Duration = Annotated[int, BeforeValidator(parse_duration), Field(ge=0)]


class Rule(BaseModel):
    """Base of every ruleset model: strict types, unknown keys are errors, immutable."""

    # Strict: a ruleset is a file a person wrote, and TOML has native numbers and booleans,
    # so points = "30" or requalify = "no" are mistakes (an int where a float is due is fine).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
