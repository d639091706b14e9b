"""Finding java and checking its version, with fake java scripts: no JVM is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.broker.errors import BrokerError
from streams.broker.java import check_java, java_command, java_major_version
from streams.broker.node import LocalBroker
from tests.support.broker import assert_one_sentence, script
from tests.support.ports import free_port


@pytest.mark.usefixtures("no_java")
def test_missing_java_is_one_sentence(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "data", port=free_port(), cache_dir=tmp_path / "cache")
    with pytest.raises(BrokerError, match="no java was found") as info:
        broker.start(timeout=1)
    assert_one_sentence(str(info.value))
    assert not (tmp_path / "cache").exists()  # nothing downloaded without Java


def test_java_home_without_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(BrokerError, match="JAVA_HOME") as info:
        check_java()
    assert_one_sentence(str(info.value))


@pytest.mark.parametrize(
    ("banner", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "25" 2025-09-16', 25),
        ('java version "1.8.0_292"', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
    ],
)
def test_java_major_version(fake_bin: Path, banner: str, major: int) -> None:
    java = script(fake_bin / "java", f"echo '{banner}' >&2\n")
    assert java_major_version(java) == major


def test_old_java_is_rejected(fake_bin: Path) -> None:
    script(fake_bin / "java", "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    with pytest.raises(BrokerError, match="needs Java 17 or newer") as info:
        check_java()
    assert_one_sentence(str(info.value))


def test_java_home_wins_over_path(
    fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script(fake_bin / "java", "echo 'openjdk version \"11\"' >&2\n")
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = script(home / "bin" / "java", "echo 'openjdk version \"21.0.1\"' >&2\n")
    monkeypatch.setenv("JAVA_HOME", str(home))
    assert check_java() == java


def test_java_command_puts_options_before_the_class_path(tmp_path: Path) -> None:
    command = java_command(Path("/jdk/bin/java"), tmp_path, ["-Xss1m"], "kafka.Kafka", "a b")
    assert command == [
        "/jdk/bin/java",
        "-Xss1m",
        "-Djava.awt.headless=true",
        "-cp",
        f"{tmp_path}/*",
        "kafka.Kafka",
        "a b",
    ]
