"""Fast tests of the local Kafka launcher: no JVM is started and nothing is downloaded."""

from __future__ import annotations

import base64
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.broker import launcher
from streams.broker.cli import broker_app
from streams.broker.launcher import (
    BrokerError,
    LocalBroker,
    check_java,
    default_cache_dir,
    ensure_jars,
    java_major_version,
)
from streams.broker.versions import KAFKA_VERSION, SCALA_VERSION


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _assert_one_sentence(message: str) -> None:
    assert message
    assert "\n" not in message
    assert message.endswith(".")
    assert "Traceback" not in message


def _parse_properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


@pytest.fixture
def no_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only an empty directory and JAVA_HOME is unset."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return empty


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory that is the whole PATH, for fake java / mvn scripts."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return bin_dir


@pytest.fixture
def listening_socket() -> Iterator[int]:
    """A port somebody else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# ----------------------------------------------------------------------------- Java


@pytest.mark.usefixtures("no_java")
def test_missing_java_is_one_sentence(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "data", port=_free_port(), cache_dir=tmp_path / "cache")
    with pytest.raises(BrokerError, match="no java was found") as info:
        broker.start(timeout=1)
    _assert_one_sentence(str(info.value))
    assert not (tmp_path / "cache").exists()  # nothing downloaded without Java


def test_java_home_without_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(BrokerError, match="JAVA_HOME") as info:
        check_java()
    _assert_one_sentence(str(info.value))


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
    java = _script(fake_bin / "java", f"echo '{banner}' >&2\n")
    assert java_major_version(java) == major


def test_old_java_is_rejected(fake_bin: Path) -> None:
    _script(fake_bin / "java", "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    with pytest.raises(BrokerError, match="needs Java 17 or newer") as info:
        check_java()
    _assert_one_sentence(str(info.value))


def test_java_home_wins_over_path(
    fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(fake_bin / "java", "echo 'openjdk version \"11\"' >&2\n")
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = _script(home / "bin" / "java", "echo 'openjdk version \"21.0.1\"' >&2\n")
    monkeypatch.setenv("JAVA_HOME", str(home))
    assert check_java() == java


# ----------------------------------------------------------------------------- CLI


@pytest.mark.usefixtures("no_java")
def test_cli_missing_java_exits_1_with_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        broker_app,
        ["start", "--port", str(_free_port()), "--data-dir", str(tmp_path / "data")],
    )
    assert result.exit_code == 1  # the broker cannot start: a failure while running
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    _assert_one_sentence(lines[0].removeprefix("error: "))


def test_cli_status_and_stop_when_nothing_runs(tmp_path: Path) -> None:
    runner = CliRunner()
    status = runner.invoke(broker_app, ["status", "--data-dir", str(tmp_path)])
    assert (status.exit_code, status.stdout) == (1, "not running\n")
    stop = runner.invoke(broker_app, ["stop", "--data-dir", str(tmp_path)])
    assert (stop.exit_code, stop.stdout) == (0, "not running\n")


def test_cli_default_data_dir_comes_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADQ_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(broker_app, ["stop"])
    assert result.exit_code == 0
    assert (tmp_path / "broker").is_dir() is False  # stop never creates the directory


# ----------------------------------------------------------------------------- ports


def test_port_in_use(tmp_path: Path, listening_socket: int) -> None:
    broker = LocalBroker(tmp_path / "data", port=listening_socket, cache_dir=tmp_path / "c")
    with pytest.raises(BrokerError) as info:
        broker.start(timeout=1)
    message = str(info.value)
    assert message == (
        f"port {listening_socket} is in use by another process; stop it or choose another "
        "port with --port."
    )


def test_explicit_controller_port_in_use(tmp_path: Path, listening_socket: int) -> None:
    broker = LocalBroker(tmp_path / "data", port=_free_port(), controller_port=listening_socket)
    with pytest.raises(BrokerError, match="controller port"):
        broker.start(timeout=1)


def test_controller_port_falls_back_when_next_port_is_busy(
    tmp_path: Path, listening_socket: int
) -> None:
    broker = LocalBroker(tmp_path, port=listening_socket - 1)
    if not launcher._port_free("127.0.0.1", broker.port):
        pytest.skip("the port below the listening socket happens to be busy")
    chosen = broker._choose_controller_port()
    assert chosen not in (broker.port, listening_socket)


def test_invalid_ports_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="not a TCP port"):
        LocalBroker(tmp_path, port=70000)
    with pytest.raises(BrokerError, match="must differ"):
        LocalBroker(tmp_path, port=29001, controller_port=29001)


# ----------------------------------------------------------------------------- config files


def test_server_properties_rendering(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, port=29123, properties={"num.partitions": "3", "x.y": "z"})
    props = _parse_properties(broker.server_properties(29124))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29124"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29123,CONTROLLER://127.0.0.1:29124"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29123"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path.resolve() / "kraft")
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "true"
    assert props["num.partitions"] == "3"  # extra properties override the defaults
    assert props["x.y"] == "z"


def test_wildcard_host_advertises_loopback(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, port=29123, host="0.0.0.0")
    props = _parse_properties(broker.server_properties(29124))
    assert props["listeners"] == "PLAINTEXT://0.0.0.0:29123,CONTROLLER://0.0.0.0:29124"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29123"
    assert broker.bootstrap == "127.0.0.1:29123"


def test_log4j_config_logs_to_file_at_info(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    config = _parse_properties(broker.log4j_config().replace(" = ", "="))
    assert config["appender.server.fileName"] == str(tmp_path.resolve() / "logs" / "server.log")
    assert config["rootLogger.level"] == "INFO"
    assert "Console" not in broker.log4j_config()


def test_kafka_uuid_is_base64url_of_16_bytes() -> None:
    for _ in range(200):
        text = launcher._kafka_uuid()
        assert len(text) == 22
        assert not text.startswith("-")
        assert len(base64.urlsafe_b64decode(text + "==")) == 16


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "leadq"
    assert LocalBroker(tmp_path).cache_dir == tmp_path / "leadq"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "leadq"


# ----------------------------------------------------------------------------- pid file


def test_stale_pid_file_of_a_dead_process(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    (tmp_path / "broker.pid").write_text(
        "pid=2147483646\nhost=127.0.0.1\nport=9092\ncontroller_port=9093\n", encoding="utf-8"
    )
    status = broker.status()
    assert (status.running, status.pid) == (False, None)
    assert broker.stop() is False
    assert not (tmp_path / "broker.pid").exists()


def test_pid_file_naming_a_live_process_that_is_not_our_broker(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    (tmp_path / "broker.pid").write_text(
        f"pid={os.getpid()}\nhost=127.0.0.1\nport=9092\ncontroller_port=9093\n", encoding="utf-8"
    )
    assert broker.status().running is False
    assert broker.stop() is False  # and, above all, this test process was not signalled


def test_garbled_pid_file(tmp_path: Path) -> None:
    (tmp_path / "broker.pid").write_text("not a pid file", encoding="utf-8")
    assert LocalBroker(tmp_path).status().running is False


# ----------------------------------------------------------------------------- jars

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
    _script(fake_bin / "mvn", _FAKE_MVN)
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
    _assert_one_sentence(message)
    assert "Could not resolve dependencies" in message
    assert "[Help 1]" not in message
    assert not (cache / f"kafka-{KAFKA_VERSION}").exists()
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []


def test_ensure_jars_without_maven(fake_bin: Path, tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="Maven") as info:
        ensure_jars(tmp_path / "cache")
    _assert_one_sentence(str(info.value))


def test_maven_error_line_skips_boilerplate() -> None:
    output = (
        "\x1b[0m[ERROR] No plugin found for prefix 'dependency' in the current project "
        "-> [Help 1]\n[ERROR] \n[ERROR] To see the full stack trace of the errors, re-run "
        "Maven with the -e switch.\n[ERROR] [Help 1] http://cwiki.apache.org/x\n\x1b[0m"
    )
    assert launcher._maven_error_line(output) == (
        "No plugin found for prefix 'dependency' in the current project"
    )


def test_startup_failure_names_the_exception(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    broker.log_dir.mkdir()
    broker.server_log.write_text(
        "[2026-01-01 00:00:00,000] INFO old run (kafka.Kafka$)\n"
        "[2026-01-01 00:00:01,000] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)\n"
        "org.apache.kafka.common.config.ConfigException: Invalid value abc for num.partitions\n"
        "\tat kafka.Kafka.main(Kafka.scala)\n",
        encoding="utf-8",
    )
    error = broker._startup_failure(1, 0)
    _assert_one_sentence(str(error))
    assert "Invalid value abc for num.partitions" in str(error)
    assert str(broker.server_log) in str(error)
