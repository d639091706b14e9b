"""Settings: validated when built, secrets never printed, safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings
from streams.worker.app import build


def test_environment_names_of_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "a:1,b:2")
    monkeypatch.setenv("LEADQ_TOPIC_PREFIX", "acme.")
    monkeypatch.setenv("LEADQ_RULES", "agency")
    settings = Settings()
    assert settings.bootstrap_list == ["a:1", "b:2"]
    assert settings.topic("leads.website") == "acme.leads.website"
    assert settings.rules == "agency"


def test_a_bad_bootstrap_address_is_rejected_when_built() -> None:
    with pytest.raises(ValidationError, match="host:port"):
        Settings(kafka_bootstrap_servers="localhost")


def test_the_password_is_never_printed() -> None:
    settings = Settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="leadq",
        sasl_password="s3cr3t-pa55",
    )
    assert "s3cr3t-pa55" not in repr(settings)
    assert "s3cr3t-pa55" not in str(settings)
    assert "s3cr3t-pa55" not in settings.model_dump_json()


def test_http_endpoints_bind_to_loopback_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.web_host == "127.0.0.1"
    assert build(settings).app.conf.web_bind == "127.0.0.1"


def test_the_default_store_is_persistent() -> None:
    assert Settings().store == "rocksdb://"
