"""Downloading the broker's jars once, with a fake mvn: nothing is downloaded."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from streams.broker.errors import BrokerError
from streams.broker.jars import default_cache_dir, ensure_jars, maven_error_line
from streams.broker.node import LocalBroker
from streams.broker.versions import KAFKA_VERSION, SCALA_VERSION
from tests.support.broker import assert_one_sentence, script

_FAKE_MVN = f"""
PATH=/usr/bin:/bin
echo run >> "$MVN_CALLS"
[ -n "$MVN_FAIL" ] && {{ echo '[ERROR] Failed to execute goal on project x: Could not resolve \
dependencies -> [Help 1]'; echo '[ERROR] '; echo '[ERROR] [Help 1] http://example.invalid'; \
exit 1; }}
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}";; esac
done
mkdir -p "$out"
sleep "${{MVN_DELAY:-0}}"
touch "$out/kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar" "$out/slf4j-api.jar"
"""


@pytest.fixture
def fake_mvn(fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake mvn on PATH that records its calls in the returned file."""
    calls = tmp_path / "mvn-calls"
    calls.touch()
    monkeypatch.setenv("MVN_CALLS", str(calls))
    monkeypatch.delenv("MVN_FAIL", raising=False)
    script(fake_bin / "mvn", _FAKE_MVN)
    return calls


def test_ensure_jars_downloads_once(fake_mvn: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    libs = ensure_jars(cache)
    assert libs == cache.resolve() / f"kafka-{KAFKA_VERSION}" / "libs"
    assert (libs / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar").is_file()
    assert (libs.parent / ".complete").is_file()
    assert ensure_jars(cache) == libs
    assert fake_mvn.read_text().count("run") == 1
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []


def test_ensure_jars_concurrent_callers_download_once(
    fake_mvn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MVN_DELAY", "0.5")
    cache = tmp_path / "cache"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_jars(cache))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 4
    assert len(set(results)) == 1
    assert fake_mvn.read_text().count("run") == 1


def test_ensure_jars_redownloads_an_incomplete_copy(fake_mvn: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    partial = cache / f"kafka-{KAFKA_VERSION}" / "libs"
    partial.mkdir(parents=True)  # as left by something interrupted: no marker
    (cache / f".kafka-{KAFKA_VERSION}-leftover").mkdir()
    libs = ensure_jars(cache)
    assert (libs / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar").is_file()
    assert fake_mvn.read_text().count("run") == 1
    assert not (cache / f".kafka-{KAFKA_VERSION}-leftover").exists()


def test_ensure_jars_maven_failure(
    fake_mvn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MVN_FAIL", "1")
    cache = tmp_path / "cache"
    with pytest.raises(BrokerError) as info:
        ensure_jars(cache)
    message = str(info.value)
    assert_one_sentence(message)
    assert "Could not resolve dependencies" in message
    assert "[Help 1]" not in message
    assert not (cache / f"kafka-{KAFKA_VERSION}").exists()
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []


def test_ensure_jars_without_maven(fake_bin: Path, tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="Maven") as info:
        ensure_jars(tmp_path / "cache")
    assert_one_sentence(str(info.value))


def test_maven_error_line_skips_boilerplate() -> None:
    output = (
        "\x1b[0m[ERROR] No plugin found for prefix 'dependency' in the current project "
        "-> [Help 1]\n[ERROR] \n[ERROR] To see the full stack trace of the errors, re-run "
        "Maven with the -e switch.\n[ERROR] [Help 1] http://cwiki.apache.org/x\n\x1b[0m"
    )
    assert maven_error_line(output) == (
        "No plugin found for prefix 'dependency' in the current project"
    )


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "leadq"
    assert LocalBroker(tmp_path).cache_dir == tmp_path / "leadq"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "leadq"
