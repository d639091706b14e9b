"""The SASL_SSL listener's settings, SCRAM password and checks; keytool is not run."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.broker.errors import BrokerError
from streams.broker.tls import BrokerSecurity, SecureFiles
from tests.support.broker import assert_one_sentence
from tests.support.ports import free_port


def test_a_new_password_is_kept_owner_only_and_reused(tmp_path: Path) -> None:
    secure = SecureFiles(tmp_path / "secure", BrokerSecurity(port=29125))
    password = secure.sasl_password()
    assert len(password) >= 24
    assert secure.password_file.stat().st_mode & 0o077 == 0
    assert secure.sasl_password() == password


def test_a_password_other_than_the_stored_one_is_refused(tmp_path: Path) -> None:
    SecureFiles(tmp_path / "secure", BrokerSecurity(port=29125, password="first")).sasl_password()
    other = SecureFiles(tmp_path / "secure", BrokerSecurity(port=29125, password="second"))
    with pytest.raises(BrokerError, match="another SCRAM password") as info:
        other.sasl_password()
    assert_one_sentence(str(info.value))
    assert str(tmp_path) in str(info.value)


def test_client_env_names_the_listener_and_the_ca(tmp_path: Path) -> None:
    secure = SecureFiles(tmp_path / "secure", BrokerSecurity(port=29125, password="pw"))
    assert secure.client_env("127.0.0.1:29125") == {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:29125",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "leadq",
        "KAFKA_SASL_PASSWORD": "pw",
        "KAFKA_SSL_CAFILE": str(tmp_path / "secure" / "ca.pem"),
    }
    secure.write_client_env("127.0.0.1:29125")
    assert "KAFKA_SASL_PASSWORD=pw\n" in secure.client_env_file.read_text(encoding="utf-8")
    assert secure.client_env_file.stat().st_mode & 0o077 == 0


def test_the_scram_user_recorded_at_format_is_checked(tmp_path: Path) -> None:
    storage = tmp_path / "kraft"
    storage.mkdir()
    secure = SecureFiles(tmp_path / "secure", BrokerSecurity(port=29125))
    secure.check_scram_user(storage)  # not formatted yet: nothing to check
    (storage / "meta.properties").write_text("version=1\n", encoding="utf-8")
    with pytest.raises(BrokerError, match="without the SCRAM user 'leadq'"):
        secure.check_scram_user(storage)
    secure.path.mkdir()
    secure.record_scram_user()
    secure.check_scram_user(storage)
    renamed = SecureFiles(secure.path, BrokerSecurity(port=29125, username="other"))
    with pytest.raises(BrokerError, match="without the SCRAM user 'other'"):
        renamed.check_scram_user(storage)


def test_the_sasl_ssl_port_must_be_free_and_not_the_controller_port(
    tmp_path: Path, listening_socket: int
) -> None:
    port = free_port()
    SecureFiles(tmp_path, BrokerSecurity(port=port)).check_port("127.0.0.1", port + 1)
    with pytest.raises(BrokerError, match="is the controller port"):
        SecureFiles(tmp_path, BrokerSecurity(port=port)).check_port("127.0.0.1", port)
    busy = SecureFiles(tmp_path, BrokerSecurity(port=listening_socket))
    with pytest.raises(BrokerError, match="in use by another process") as info:
        busy.check_port("127.0.0.1", port)
    assert_one_sentence(str(info.value))


def test_invalid_security_settings_are_rejected() -> None:
    with pytest.raises(BrokerError, match="not a TCP port"):
        BrokerSecurity(port=0)
    with pytest.raises(BrokerError, match="user name"):
        BrokerSecurity(port=29125, username="")
    assert "password" not in repr(BrokerSecurity(port=29125, password="hidden"))
