"""The reason a broker failed to start, read from its logs."""

from __future__ import annotations

from pathlib import Path

from streams.broker.logs import startup_failure
from streams.broker.node import LocalBroker
from tests.support.broker import assert_one_sentence


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
    error = startup_failure(1, broker.server_log, broker.stdout_log, 0)
    assert_one_sentence(str(error))
    assert "Invalid value abc for num.partitions" in str(error)
    assert str(broker.server_log) in str(error)


def test_a_jvm_that_failed_before_logging_is_reported_from_its_stdout(tmp_path: Path) -> None:
    server_log, stdout_log = tmp_path / "server.log", tmp_path / "stdout.log"
    stdout_log.write_text("Invalid maximum heap size: -Xmxbogus\nmore\n", encoding="utf-8")
    error = startup_failure(1, server_log, stdout_log, 0)
    assert_one_sentence(str(error))
    assert "(Invalid maximum heap size: -Xmxbogus)" in str(error)
    assert str(stdout_log) in str(error)
    assert error.details == "Invalid maximum heap size: -Xmxbogus\nmore"
