"""A ruleset's validation problems in plain words, each with the line of the TOML it is on.

Pydantic's error types (missing, extra_forbidden, int_type ...) become sentences a person
would say; unknown names (signals, lists, keys, event types) come with the closest valid
ones ("did you mean ...?").
"""

from __future__ import annotations

import difflib
import itertools
import re
import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

CONDITION_KEYS: tuple[str, ...] = ("signal", "score", "profile", "all", "any", "not")
ID_PATTERN = r"^[a-z][a-z0-9_]*$"
ID_RULE = "must be lower case letters, digits and underscores, starting with a letter"

# What a value of each pydantic type error should have been, in words.
_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text in quotes",
    "list_type": "a list [...]",
    "tuple_type": "a list [...]",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}
_LISTS = {
    "disqualify": "disqualifier",
    "fit": "fit rule",
    "cap": "score cap",
    "destination": "destination",  # an alerts configuration's [[destination]]
}
# The key that names an entry of such a list, and the form a usable name has.
_NAMED_BY = {"disqualify": "reason", "destination": "name"}
_NAME_PATTERNS = {"destination": r"^[a-z0-9-]+$"}
# Patterns a name must match, in words.
_PATTERN_RULES = {
    ID_PATTERN: ID_RULE,
    r"^[a-z0-9-]+$": "must be lower case letters, digits and hyphens",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "is not an environment variable name",
}

Tags = Mapping[str, type[BaseModel]]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' naming the closest candidates, or '' when none is close."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return ""
    # Name the runners-up only when they are about as close as the best.
    score = [difflib.SequenceMatcher(None, name, c).ratio() for c in close]
    close = [c for c, s in zip(close, score, strict=True) if s >= score[0] - 0.05]
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def number(value: Any) -> str:
    """A bound or value without a needless '.0' (0.0 -> 0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def shown(value: Any) -> str:
    """A value the way the TOML file has it, for 'must be ..., not <value>'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return number(value)


def _named(data: Any, table: str, index: int) -> str:
    """'disqualifier 'opted_out'' (by its reason, rule id or name) or 'disqualifier 3'."""
    item = data.get(table) if isinstance(data, dict) else None
    entry = item[index] if isinstance(item, list) and index < len(item) else None
    name = entry.get(_NAMED_BY.get(table, "rule")) if isinstance(entry, dict) else None
    if isinstance(name, str) and re.match(_NAME_PATTERNS.get(table, ID_PATTERN), name):
        return f"{_LISTS[table]} '{name}'"
    return f"{_LISTS[table]} {index + 1}"


def place(path: Iterable[Any], data: Any = None) -> str:
    """A location as a person says it: signal 'x' match #1, sql criteria, disqualifier 2."""
    parts = list(path)
    words: list[str] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        after = parts[i + 1] if i + 1 < len(parts) else None
        if part in ("signals", "lists") and isinstance(after, str):
            words.append(f"{part[:-1]} '{after}'")
            i += 2
        elif part == "sla" and isinstance(after, str):
            words.append(f"[sla.{after}]")
            i += 2
        elif part == "stages" and isinstance(after, str):
            words.append(after)
            i += 2
        elif part in _LISTS and isinstance(after, int) and i == 0:
            words.append(_named(data, part, after))
            i += 2
        else:
            words.append(f"#{part + 1}" if isinstance(part, int) else str(part))
            i += 1
    return " ".join(words)


def readable(loc: tuple[Any, ...], tags: Tags) -> list[Any]:
    """A validation location without pydantic's union tags ('signal', 'all' ...)."""
    out: list[Any] = []
    previous_was_tag = False
    for i, part in enumerate(loc):
        before = loc[i - 1] if i > 0 else None
        # A condition tag follows the key that holds a condition, or a list index, never
        # another tag.
        is_tag = (
            part in tags
            and not previous_was_tag
            and (before in ("criteria", "when", "not") or isinstance(before, int))
        )
        previous_was_tag = is_tag
        if not is_tag:
            out.append(part)
    return out


def locate(text: str, path: list[Any]) -> int | None:
    """Best-effort line number (1-based) of the TOML key at a readable location."""
    lines = text.splitlines()
    best: int | None = None
    start, consumed = 0, 0
    # The deepest table header ([a.b] or the n-th [[a]]) that the path starts with.
    for length in range(len(path), 0, -1):
        names = [str(p) for p in path[:length] if not isinstance(p, int)]
        if not names or isinstance(path[length - 1], int):
            continue
        index = path[length] if length < len(path) and isinstance(path[length], int) else None
        header = ".".join(names)
        hits = [
            n for n, line in enumerate(lines) if line.strip() in (f"[{header}]", f"[[{header}]]")
        ]
        if hits:
            n = hits[index] if index is not None and index < len(hits) else hits[0]
            best, start = n + 1, n
            consumed = length + (1 if index is not None else 0)
            break
    # Then the remaining keys, as `key =` lines (or inline `key = ...`) below that header.
    for part in path[consumed:]:
        if isinstance(part, int):
            continue
        pattern = re.compile(rf'(^|[{{,\s])"?{re.escape(str(part))}"?\s*=')
        for n in range(start, len(lines)):
            if n > start and lines[n].lstrip().startswith("["):
                return best
            if pattern.search(lines[n]):
                best, start = n + 1, n
                break
        else:
            return best
    return best


def _mentioned_line(text: str, message: str, keys: Iterable[str]) -> int | None:
    """For a whole-ruleset problem: the line of the first table ([x]) the message names,
    else of the first top-level key (`x = ...`) it names."""
    lines = text.splitlines()
    for table in re.findall(r"\[([a-z_.]+)\]", message):
        for n, line in enumerate(lines, start=1):
            if line.strip() == f"[{table}]":
                return n
    named = [word for word in re.findall(r"[a-z_]+", message) if word in set(keys)]
    for word in named:
        for n, line in enumerate(lines, start=1):
            if line.strip().startswith("["):
                break  # top-level keys come before the first table
            if re.match(rf"\s*{word}\s*=", line):
                return n
    return None


def _reference_line(text: str, at: list[Any], key: str, name: str) -> int | None:
    """The line of `key = "name"` at or below the condition at `at` (else anywhere)."""
    lines = text.splitlines()
    pattern = re.compile(rf'\b{re.escape(key)}\s*=\s*"{re.escape(name)}"')
    first = (locate(text, at) or 1) - 1
    for n in itertools.chain(range(first, len(lines)), range(first)):
        if pattern.search(lines[n]):
            return n + 1
    return None


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def _step(tp: Any, part: Any, tags: Tags) -> Any:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin = get_origin(tp)
    if origin is list:
        return get_args(tp)[0] if isinstance(part, int) else None
    if origin is dict:
        return get_args(tp)[1] if isinstance(part, str) else None
    if origin in (Union, types.UnionType) and isinstance(part, str):
        return tags.get(part)
    return None


def fields_at(root: type[BaseModel], loc: tuple[Any, ...], tags: Tags) -> list[str]:
    """The keys that the table at a validation location accepts ([] if not known)."""
    tp: Any = root
    for part in loc:
        tp = _step(tp, part, tags)
        if tp is None:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [field.alias or name for name, field in tp.model_fields.items()]
    return []


def _sentence(err: ErrorDetails, root: type[BaseModel], tags: Tags) -> tuple[list[Any], str]:
    """(where, what): the readable location the sentence is about, and the sentence."""
    loc = tuple(err["loc"])
    path = readable(loc, tags)
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    key = path[-1] if path else None
    parent = path[:-1]
    name = f"entry #{key + 1}" if isinstance(key, int) else str(key)
    if key == "[key]" and len(path) >= 2 and kind != "string_pattern_mismatch":
        # A table name (e.g. [stages.sqox]) that is not one of the allowed ones.
        expected = ctx.get("expected") or _EXPECTED.get(kind, "something else")
        return path[:-2], f"'{path[-2]}' is not allowed here; use {expected}"
    if kind == "missing":
        return parent, f"{name} is missing"
    if kind == "extra_forbidden":
        known = fields_at(root, loc[:-1], tags)
        hint = did_you_mean(str(key), known)
        if not hint and known:
            hint = f" (valid keys: {', '.join(known)})"
        return parent, f"unknown key '{key}'{hint}"
    if kind == "string_pattern_mismatch":
        if key == "[key]" and len(path) >= 3:
            owner = "signal id" if path[-3] == "signals" else "name"
            return path[:-3], f"{owner} '{path[-2]}' {ID_RULE}"
        if ctx.get("pattern") in _PATTERN_RULES:
            return parent, f"{name} '{value}' {_PATTERN_RULES[ctx['pattern']]}"
        return parent, f"{name} '{value}' does not match the pattern {ctx.get('pattern')}"
    if kind in _EXPECTED:
        return parent, f"{name} must be {_EXPECTED[kind]}, not {shown(value)}"
    if kind == "literal_error":
        return parent, f"{name} must be {ctx.get('expected')}, not {shown(value)}"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return parent, f"{name} must be {words} {number(ctx.get(bound))}, not {shown(value)}"
    if kind == "string_too_short":
        return parent, f"{name} must not be empty"
    if kind == "too_short":
        return parent, f"{name} needs at least {ctx.get('min_length')} entry"
    if kind in ("condition", "union_tag_invalid"):
        # Which condition keys this place takes: named in the message or the expected tags.
        said = err["msg"] if kind == "condition" else str(ctx.get("expected_tags"))
        allowed = [k for k in CONDITION_KEYS if re.search(rf"\b{k}\b", said)]
        given = [k for k in value if isinstance(k, str)] if isinstance(value, dict) else []
        hints = [did_you_mean(k, allowed) for k in given if k not in allowed]
        hint = next((h for h in hints if h), "")
        return path, f"a condition needs one of the keys {', '.join(allowed)}{hint}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return path, str(ctx["error"])
    return path, err["msg"]


def describe(
    err: ErrorDetails, text: str, root: type[BaseModel], tags: Tags, data: Any = None
) -> str:
    """One problem: 'line N: <where>: <what>' (without the line when it cannot be found);
    `data` (the parsed TOML) lets a disqualifier or fit rule be named by its id."""
    ctx = err.get("ctx") or {}
    if err["type"] == "unknown_reference":
        line = _reference_line(text, list(ctx["at"]), str(ctx["key"]), str(ctx["name"]))
        return f"line {line}: {err['msg']}" if line else err["msg"]
    where, what = _sentence(err, root, tags)
    loc = tuple(err["loc"])
    if loc:
        line = locate(text, readable(loc, tags))
    else:
        line = _mentioned_line(text, what, root.model_fields)
    prefix = f"line {line}: " if line else ""
    return f"{prefix}{place(where, data)}: {what}" if where else f"{prefix}{what}"
