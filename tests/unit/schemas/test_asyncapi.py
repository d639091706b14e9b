"""schemas/asyncapi.yaml is valid by the AsyncAPI project's own parser (@asyncapi/parser, run
with Node.js by schemas/asyncapi/validate.mjs), and the validator rejects broken copies.

`make test` (and `make unit`) install the parser with `npm ci` first. Without Node.js or the
installed parser the tests fail saying so: they never skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
DOCUMENT = SCHEMAS / "asyncapi.yaml"
VALIDATOR_DIR = SCHEMAS / "asyncapi"
VALIDATOR = VALIDATOR_DIR / "validate.mjs"
TIMEOUT_S = 180


def _replace(old: str, new: str) -> Callable[[Path], None]:
    """A change of asyncapi.yaml (of the copy in the folder given)."""

    def change(folder: Path) -> None:
        path = folder / "asyncapi.yaml"
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        path.write_text(text.replace(old, new), encoding="utf-8")

    return change


def _break_payload_schema(folder: Path) -> None:
    path = folder / "json" / "leads.email.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["$defs"]["EmailOpenedEvent"]["properties"]["event_id"]["type"] = "text"
    path.write_text(json.dumps(schema), encoding="utf-8")


# Broken copies: name -> (change, what an error must mention: a path prefix or a word).
BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "cleanup-policy-not-a-list": (
        _replace("cleanup.policy:\n            - compact", "cleanup.policy: compact"),
        "channels.leadStages.bindings.kafka.topicConfiguration.cleanup.policy",
    ),
    "missing-schema-file": (
        _replace("./json/leads.website.schema.json", "./json/leads.web.schema.json"),
        "leads.web.schema.json",
    ),
    "invalid-payload-schema": (
        _break_payload_schema,
        "components.messages.emailEvent.payload",
    ),
    "operation-message-of-another-channel": (
        _replace(
            "- $ref: '#/channels/email/messages/emailEvent'",
            "- $ref: '#/channels/call/messages/callEvent'",
        ),
        "operations.receiveEmailEvents.messages",
    ),
    "asyncapi-2-action": (
        _replace("action: send\n    title: Write stage changes", "action: publish"),
        "operations.sendStageChanges.action",
    ),
}


def _run_validator(files: list[Path]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node not found: schemas/asyncapi.yaml is validated with the AsyncAPI parser on"
            " Node.js; install Node.js 18.18+ with npm, then run `make unit` (or"
            " `cd schemas/asyncapi && npm ci --ignore-scripts`)"
        )
    if not (VALIDATOR_DIR / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(
            "@asyncapi/parser is not installed in schemas/asyncapi/node_modules: run"
            " `make unit` (or `cd schemas/asyncapi && npm ci --ignore-scripts`; needs npm)"
        )
    proc = subprocess.run(
        [node, str(VALIDATOR), "--json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr or proc.stdout
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    assert [r["file"] for r in results] == [str(f) for f in files]
    assert proc.returncode == (0 if all(r["valid"] for r in results) else 1)
    return results


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The validator's result for the real document and each broken copy (one node run)."""
    files = {"real": DOCUMENT}
    for name, (change, _) in BROKEN.items():
        folder = tmp_path_factory.mktemp(name)
        shutil.copy(DOCUMENT, folder / "asyncapi.yaml")
        shutil.copytree(SCHEMAS / "json", folder / "json")
        change(folder)
        files[name] = folder / "asyncapi.yaml"
    results = _run_validator(list(files.values()))
    return dict(zip(files, results, strict=True))


def _problems(result: dict[str, Any], *severities: str) -> list[str]:
    return [
        f"{d['severity']} {d['code']} at {'.'.join(d['path'])}: {d['message']}"
        for d in result["diagnostics"]
        if d["severity"] in severities
    ]


def test_asyncapi_document_is_valid(validated: dict[str, dict[str, Any]]) -> None:
    result = validated["real"]
    assert _problems(result, "error", "warning") == []
    assert result["valid"]
    assert result["version"] == "3.0.0"


@pytest.mark.parametrize("name", BROKEN)
def test_broken_copy_is_rejected(validated: dict[str, dict[str, Any]], name: str) -> None:
    result = validated[name]
    errors = _problems(result, "error")
    assert not result["valid"]
    assert errors
    expected = BROKEN[name][1]
    assert any(expected in e for e in errors), errors
